"""Flow lifecycle (FLOW-4, FLOW-22, readiness): start/close, ``with``, ``block``, no leaks on both runtimes."""

import asyncio
import os
import socket
import threading

import grpc
import pytest
from docarray import BaseDoc, DocList
from google.protobuf import empty_pb2

from devkit import Executor, Flow, requests
from devkit.proto import jina_pb2


class TextDoc(BaseDoc):
    text: str = ""


class Pid(Executor):
    @requests
    def pid(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += f"{os.getpid()};"


def refused(port: int) -> bool:
    """True when nothing accepts connections on ``port`` any more."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def all_ports(flow: Flow) -> list[int]:
    return list(flow._group.ports)


@pytest.mark.usefixtures("no_leaks")
def test_leaving_with_leaves_no_server_behind(runtime):
    flow = Flow(quiet=True, runtime=runtime).add(uses=Pid, name="a").add(uses=Pid, name="b", replicas=2)
    with flow:
        pids = flow.post("/", TextDoc(), return_type=DocList[TextDoc]).text[0].split(";")[:2]
        ports = all_ports(flow)
        assert len(ports) == 4  # a, b twice, gateway
    if runtime == "process":
        assert os.getpid() not in {int(p) for p in pids}
    else:
        assert {int(p) for p in pids} == {os.getpid()}
    assert flow.alive_servers == []
    assert all(refused(port) for port in ports)


@pytest.mark.process
@pytest.mark.usefixtures("no_leaks")
def test_runtime_can_be_chosen_per_executor():
    flow = Flow(quiet=True).add(uses=Pid, name="here").add(uses=Pid, name="there", runtime="process")
    with flow:
        here, there = flow.post("/", TextDoc(), return_type=DocList[TextDoc]).text[0].split(";")[:2]
        ports = all_ports(flow)
    assert int(here) == os.getpid() and int(there) != os.getpid()
    assert all(refused(port) for port in ports)


@pytest.mark.usefixtures("no_leaks")
def test_start_and_close_without_a_context_manager():
    flow = Flow(quiet=True).add(uses=Pid)
    assert flow.start() is flow
    try:
        assert flow.is_flow_ready()
        assert flow.dry_run()
    finally:
        flow.close()
    flow.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        flow.start()


def test_is_flow_ready_is_true_inside_with_and_false_after():
    flow = Flow(quiet=True).add()
    with flow:
        port = flow.port
        assert flow.is_flow_ready() is True
    from devkit import Client

    with Client(port=port) as client:
        assert client.is_flow_ready(timeout=0.5) is False


@pytest.mark.usefixtures("no_leaks")
def test_an_exception_inside_with_closes_the_flow_and_propagates():
    flow = Flow(quiet=True).add(uses=Pid)
    with pytest.raises(KeyError, match="boom"), flow:
        ports = all_ports(flow)
        raise KeyError("boom")
    assert all(refused(port) for port in ports)


@pytest.mark.usefixtures("no_leaks")
def test_block_returns_when_the_stop_event_is_set():
    stop = threading.Event()
    served: list[int] = []

    def start_flow(stop_event: threading.Event) -> None:
        with Flow(quiet=True).add(uses=Pid) as f:
            served.append(f.port)
            f.block(stop_event=stop_event)

    thread = threading.Thread(name="Blocked-Flow", target=start_flow, args=(stop,))
    thread.start()
    try:
        from devkit import Client

        while not served:
            thread.join(0.05)
            assert thread.is_alive()
        with Client(port=served[0]) as client:
            assert client.post("/", TextDoc(text="x"), return_type=DocList[TextDoc]).text[0].startswith("x")
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert refused(served[0])


def test_post_works_from_inside_a_running_event_loop():
    """As in a notebook: the caller's thread already runs an asyncio loop."""
    with Flow(quiet=True).add(uses=Pid) as flow:

        def post_sync() -> list[str]:
            return flow.post("/", TextDoc(text="nb"), return_type=DocList[TextDoc]).text

        async def notebook_cell() -> list[str]:
            asyncio.get_running_loop()  # a loop is running in this thread
            return post_sync()

        (text,) = asyncio.run(notebook_cell())
    assert text == f"nb{os.getpid()};"


def test_an_empty_flow_is_only_a_gateway_that_echoes():
    with Flow(quiet=True) as flow:
        assert flow.post("/", TextDoc(text="echo"), return_type=DocList[TextDoc]).text == ["echo"]
        assert flow.alive_servers == ["Flow/gateway"]


def test_post_before_start_says_how_to_start():
    with pytest.raises(RuntimeError, match="start the Flow first"):
        Flow().add().post("/")


def test_dry_run_fails_and_names_an_executor_that_is_down():
    with (
        Flow(quiet=True)
        .add(uses=Pid, name="alive")
        .add(host="127.0.0.1:1", external=True, name="gone") as flow
    ):
        assert flow.is_flow_ready()  # the gateway itself is up
        assert not flow.dry_run()
        with grpc.insecure_channel(f"127.0.0.1:{flow.port}") as channel:
            dry_run = channel.unary_unary(
                "/jina.JinaGatewayDryRunRPC/dry_run",
                request_serializer=empty_pb2.Empty.SerializeToString,
                response_deserializer=jina_pb2.StatusProto.FromString,
            )
            status = dry_run(empty_pb2.Empty(), timeout=30)
        assert "gone at 127.0.0.1:1" in status.description and "alive" not in status.description
