"""Faults heal: once a fault is gone, the very next request gets through.

A gRPC channel whose connection attempt failed waits out a reconnect backoff (1 s and
growing) before it dials again; the gateway must not make requests wait for it.
"""

from __future__ import annotations

import asyncio

import pytest
from docarray import BaseDoc, DocList

from devkit import Executor, requests
from devkit.errors import ExecutorError, ServerUnavailableError


class TextDoc(BaseDoc):
    text: str = ""


class Stamp(Executor):
    @requests
    def stamp(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += "!"


def _docs(count: int) -> DocList[TextDoc]:
    return DocList[TextDoc]([TextDoc(text=f"doc-{i}") for i in range(count)])


def _fails_naming(flow, executor: str) -> None:
    with pytest.raises(ExecutorError) as caught:
        flow.post("/", _docs(1))
    assert caught.value.executor == executor


@pytest.mark.devkit_runtimes("thread", "process")
def test_the_first_request_after_a_partition_heals_succeeds(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    edge = network.edge("gateway", "encoder")
    with flow:
        assert len(flow.post("/", _docs(1))) == 1
        with edge.partition():
            for _ in range(3):  # each failed dial lengthens gRPC's reconnect backoff
                _fails_naming(flow, "encoder")
        got = flow.post("/", _docs(3), return_type=DocList[TextDoc])
    assert got.text == ["doc-0!", "doc-1!", "doc-2!"]


def test_a_reset_while_connecting_costs_no_request(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    edge = network.edge("gateway", "encoder")
    edge.reset_peer(times=1)  # the gateway's first connection to the encoder is reset
    with flow:
        got = flow.post("/", _docs(2), return_type=DocList[TextDoc])
    assert got.text == ["doc-0!", "doc-1!"]
    assert edge.stats.faults == {"reset_peer": 1}


@pytest.mark.devkit_runtimes("thread", "process")
def test_fault_recovery_fault_again_recovery_again(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    edge = network.edge("gateway", "encoder")
    with flow:
        for _ in range(2):
            with edge.partition():
                _fails_naming(flow, "encoder")
                _fails_naming(flow, "encoder")
            assert len(flow.post("/", _docs(2))) == 2
            with edge.reset_peer(times=1):
                assert len(flow.post("/", _docs(2))) == 2  # retried on a fresh connection
            assert len(flow.post("/", _docs(2))) == 2
    assert edge.stats.faults["partition"] >= 4
    assert edge.stats.faults["reset_peer"] == 2


@pytest.mark.parametrize("protocol", ["grpc", "websocket"])
@pytest.mark.devkit_runtimes("thread", "process")
def test_without_retries_the_first_request_after_a_partition_heals_succeeds(network, flow_factory, protocol):
    flow = network.attach(flow_factory(protocol=protocol).add(uses=Stamp, name="encoder", retries=0))
    edge = network.edge("gateway", "encoder")
    with flow:
        assert len(flow.post("/", _docs(1))) == 1
        with edge.partition():  # resets the gateway's open connection to the encoder
            for _ in range(3):  # failed dials in quick succession: no time to swap channels between them
                _fails_naming(flow, "encoder")
        got = flow.post("/", _docs(3), return_type=DocList[TextDoc])
    assert got.text == ["doc-0!", "doc-1!", "doc-2!"]


@pytest.mark.parametrize("protocol", ["grpc", "websocket"])
def test_without_retries_a_request_reset_after_it_was_sent_fails_and_the_next_succeeds(
    network, flow_factory, protocol
):
    flow = network.attach(flow_factory(protocol=protocol).add(uses=Stamp, name="encoder", retries=0))
    edge = network.edge("gateway", "encoder")
    with flow:
        assert len(flow.post("/", _docs(1))) == 1
        with edge.reset_peer(times=1):  # the open connection is reset as the request goes out
            _fails_naming(flow, "encoder")  # the worker may have run it: not resent
        got = flow.post("/", _docs(2), return_type=DocList[TextDoc])
    assert got.text == ["doc-0!", "doc-1!"]
    assert edge.stats.faults == {"reset_peer": 1}


def test_without_retries_a_reset_while_connecting_costs_no_request(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder", retries=0))
    edge = network.edge("gateway", "encoder")
    edge.reset_peer(times=1)  # the gateway's first connection to the encoder: no request sent yet
    with flow:
        got = flow.post("/", _docs(2), return_type=DocList[TextDoc])
    assert got.text == ["doc-0!", "doc-1!"]
    assert edge.stats.faults == {"reset_peer": 1}


def test_the_clients_first_request_after_a_partition_heals_succeeds(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    front = network.edge("client", "gateway")
    with flow:
        assert len(flow.post("/", _docs(1))) == 1
        with front.partition():
            for _ in range(3):  # failed dials in quick succession: no time to swap channels between them
                with pytest.raises(ServerUnavailableError):
                    flow.post("/", _docs(1))
        got = flow.post("/", _docs(2), return_type=DocList[TextDoc])
    assert got.text == ["doc-0!", "doc-1!"]


def test_the_asyncio_clients_first_request_after_a_partition_heals_succeeds(
    network, flow_factory, client_factory
):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    front = network.edge("client", "gateway")

    async def texts(client) -> list[str]:
        got: list[str] = []
        async for docs in client.post("/", _docs(2), return_type=DocList[TextDoc]):
            got.extend(docs.text)
        return got

    async def scenario(client) -> list[str]:
        try:
            await texts(client)
            with front.partition():
                for _ in range(3):  # failed dials in quick succession: no time to swap channels
                    with pytest.raises(ServerUnavailableError):
                        await texts(client)
            return await texts(client)
        finally:
            await client.close()

    with flow:
        got = asyncio.run(scenario(client_factory(flow, asyncio=True)))
    assert got == ["doc-0!", "doc-1!"]
