"""Closing a Flow or Deployment with requests in flight (thread runtime, real gRPC servers).

``close()`` (and so leaving ``with``) answers what the servers accepted, for up to the grace,
while health says NOT_SERVING and new requests get UNAVAILABLE. What the grace cuts off is
cancelled, and its queued sync work never runs. The test synchronises on the Executor's
events and on health checks, never on time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from docarray import BaseDoc, DocList
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devkit import Deployment, Executor, Flow, requests
from devkit.proto import jina_pb2
from devkit.wire import new_request, read_docs

WAIT = 20.0  # seconds any step may take on a loaded machine


class TextDoc(BaseDoc):
    text: str = ""


class Held(Executor):
    """Sync; every call records its text, and ``hold`` calls wait until the test releases them."""

    started = threading.Event()
    release = threading.Event()
    ran: list[str] = []

    @requests(on="/hold")
    def hold(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        self.ran.extend(doc.text for doc in docs)
        type(self).started.set()
        type(self).release.wait(WAIT)
        for doc in docs:
            doc.text = doc.text.upper()
        return docs


@pytest.fixture(autouse=True)
def fresh_held() -> None:
    Held.started.clear()
    Held.release.clear()
    Held.ran = []


def send(channel: grpc.Channel, text: str) -> grpc.Future:
    call = channel.unary_unary(
        "/jina.JinaSingleDataRequestRPC/process_single_data",
        request_serializer=jina_pb2.DataRequestProto.SerializeToString,
        response_deserializer=jina_pb2.DataRequestProto.FromString,
    )
    return call.future(new_request("/hold", DocList[TextDoc]([TextDoc(text=text)])), timeout=2 * WAIT)


def wait_not_serving(port: int) -> None:
    deadline = time.monotonic() + WAIT
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while (
            stub.Check(health_pb2.HealthCheckRequest(), timeout=WAIT).status
            != health_pb2.HealthCheckResponse.NOT_SERVING
        ):
            assert time.monotonic() < deadline, "health never said NOT_SERVING"
            time.sleep(0.02)


def served(kind: str) -> Flow | Deployment:
    """Held behind a Flow's gateway, or alone (its worker listens on the Deployment's port)."""
    if kind == "flow":
        return Flow(port=0, host="127.0.0.1", quiet=True).add(uses=Held, name="held")
    return Deployment(uses=Held, name="held", port=0, host="127.0.0.1", quiet=True)


@pytest.mark.parametrize(("kind", "refused_by"), [("flow", "gateway"), ("deployment", "held/rep-0")])
def test_closing_answers_what_was_accepted_and_refuses_the_rest(kind: str, refused_by: str) -> None:
    orchestrator = served(kind)
    orchestrator.start()
    with ThreadPoolExecutor(1) as pool, grpc.insecure_channel(f"127.0.0.1:{orchestrator.port}") as channel:
        try:
            accepted = send(channel, "accepted")
            assert Held.started.wait(WAIT)  # it reached the Executor: accepted by every server on its way
            closing = pool.submit(orchestrator.close)

            wait_not_serving(orchestrator.port)
            with pytest.raises(grpc.RpcError) as refused:
                send(channel, "late").result()
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert refused_by in refused.value.details() and "shutting down" in refused.value.details()

            Held.release.set()
            answer = read_docs(accepted.result(WAIT), DocList[TextDoc]).text
            closing.result(WAIT)
        finally:
            Held.release.set()
            orchestrator.close()
    assert answer == ["ACCEPTED"]
    assert Held.ran == ["accepted"]


class LogWatch(logging.Handler):
    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@pytest.fixture
def cut_off_watch() -> Iterator[LogWatch]:
    logger = logging.getLogger("devkit.serve")
    watch = LogWatch("after the 0.2 s grace are cancelled")
    logger.addHandler(watch)
    try:
        yield watch
    finally:
        logger.removeHandler(watch)


def test_requests_the_grace_cuts_off_are_cancelled_and_never_run(cut_off_watch: LogWatch) -> None:
    dep = Deployment(uses=Held, port=0, host="127.0.0.1", quiet=True)
    dep.start()
    with ThreadPoolExecutor(1) as pool, grpc.insecure_channel(f"127.0.0.1:{dep.port}") as channel:
        try:
            calls = [send(channel, f"call {i}") for i in range(3)]
            assert Held.started.wait(WAIT)  # one runs; the others are queued behind it or refused
            closing = pool.submit(dep.close, grace=0.2)
            assert cut_off_watch.seen.wait(WAIT), "the grace never ran out"
            Held.release.set()  # the running call ends; the queued ones must not start
            closing.result(WAIT)
        finally:
            Held.release.set()
            dep.close()
    for call in calls:
        with pytest.raises(grpc.RpcError) as cut_off:
            call.result(WAIT)
        assert cut_off.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    assert len(Held.ran) == 1  # only the call that had started when the grace ran out
