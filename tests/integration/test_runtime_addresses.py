"""Every runtime's handle reports one address, host and port, and the orchestrators dial it.

A worker bound to another loopback address (``127.0.0.2``) answers there and nowhere else;
the gateway and the implicit client reach it only because they dial the address its handle
reported, not ``127.0.0.1`` plus its port.
"""

from __future__ import annotations

import socket

import pytest
from docarray import BaseDoc, DocList

from devkit import Client, Executor, requests
from devkit.orchestrate.addressing import Edge
from devkit.runtime import Address, start
from devkit.runtime.base import ready_address
from devkit.serve.worker import run_worker
from devkit.spec.models import ExecutorSpec, WorkerSpec

OTHER_LOOPBACK = "127.0.0.2"


class TextDoc(BaseDoc):
    text: str = ""


class Hello(Executor):
    @requests
    def hello(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = "hello"


def accepts(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


@pytest.mark.parametrize(
    ("bind", "reported"),
    [("127.0.0.1", "127.0.0.1"), (OTHER_LOOPBACK, OTHER_LOOPBACK), ("0.0.0.0", "127.0.0.1")],
    ids=["loopback", "other-loopback", "wildcard"],
)
def test_a_handle_reports_the_host_it_bound_and_the_port_that_answers(runtime, bind, reported, no_leaks):
    spec = WorkerSpec(name="hello", executor=ExecutorSpec(uses=Hello), host=bind)
    handle = start(runtime, "hello/rep-0", run_worker, spec)
    try:
        address = handle.wait_ready(30.0)
        assert isinstance(address, Address)
        assert address == handle.address
        assert (address.host, address.port) == (reported, handle.all_ports[0])
        assert str(address) == f"{reported}:{address.port}"
        with Client(host=f"grpc://{address}") as client:
            assert client.post("/", TextDoc(), return_type=DocList[TextDoc]).text == ["hello"]
        if bind == OTHER_LOOPBACK:
            assert not accepts("127.0.0.1", address.port), "the worker listens beyond the host it reported"
    finally:
        handle.stop(grace=0)


def test_an_address_is_asked_for_only_once_the_server_is_ready():
    with pytest.raises(RuntimeError, match=r"hello/rep-0 is not ready yet: call wait_ready\(\)"):
        ready_address("hello/rep-0", "127.0.0.1", None)
    assert str(ready_address("hello/rep-0", "::1", 8080)) == "[::1]:8080"


def test_a_gateway_reaches_workers_on_another_host_through_their_reported_address(runtime, flow_factory):
    dialled: dict[Edge, str] = {}

    def record(edge: Edge, address: str) -> str:
        dialled[edge] = address
        return address

    flow = flow_factory(runtime=runtime, host=OTHER_LOOPBACK).add(
        uses=Hello, name="hello", host=OTHER_LOOPBACK, replicas=2
    )
    flow.route_through(record)
    with flow:
        got = flow.post(
            "/", DocList[TextDoc]([TextDoc(), TextDoc()]), request_size=1, return_type=DocList[TextDoc]
        )
        assert got.text == ["hello", "hello"]
        assert flow.host == OTHER_LOOPBACK
        replicas = [dialled[Edge("gateway", "hello", 0, replica)] for replica in (0, 1)]
        worker_ports = {int(address.rpartition(":")[2]) for address in replicas}
        assert all(address.startswith(f"{OTHER_LOOPBACK}:") for address in replicas), replicas
        assert {a.port for a in flow.addresses if a.host == OTHER_LOOPBACK} >= {*worker_ports, flow.port}
        assert not any(accepts("127.0.0.1", port) for port in (*worker_ports, flow.port))


def test_a_lone_deployment_on_another_host_is_dialled_there(runtime, deployment_factory):
    with deployment_factory(Hello, runtime=runtime, host=OTHER_LOOPBACK) as deployment:
        assert deployment.host == OTHER_LOOPBACK
        assert deployment.post("/", TextDoc(), return_type=DocList[TextDoc]).text == ["hello"]
        assert not accepts("127.0.0.1", deployment.port)


def test_a_deployment_with_replicas_binds_its_workers_on_its_host(runtime, deployment_factory):
    with deployment_factory(Hello, runtime=runtime, host=OTHER_LOOPBACK, replicas=2) as deployment:
        assert deployment.post("/", TextDoc(), return_type=DocList[TextDoc]).text == ["hello"]
        assert {address.host for address in deployment.addresses} == {OTHER_LOOPBACK}
        assert len(deployment.addresses) == 3  # two workers and the gateway
