"""On the thread runtime the gateway hands requests to its workers in-process, unless a fault is
configured on the edge: then the request takes the real socket, so the fake network still
means what it says. Semantics do not change: errors, timeouts, exactly-once."""

from __future__ import annotations

import threading

import grpc
import pytest
from docarray import BaseDoc, DocList

from devkit import Executor, Flow, requests
from devkit.errors import ExecutorError
from devkit.serve import local
from devkit.testing.faults import FakeNetwork


class TextDoc(BaseDoc):
    text: str = ""


class Stamp(Executor):
    """Appends its name to every text: a document answered twice would show it twice."""

    @requests
    def stamp(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += f"|{self.metas.name}"


class Fails(Executor):
    @requests
    def fail(self, docs: DocList[TextDoc], **kwargs) -> None:
        raise ValueError("this Executor always fails")


class Waits(Executor):
    """Holds each request until the test releases it."""

    release = threading.Event()

    @requests
    def wait(self, docs: DocList[TextDoc], **kwargs) -> None:
        Waits.release.wait(30)


def _docs(count: int) -> DocList[TextDoc]:
    return DocList[TextDoc]([TextDoc(text=str(i)) for i in range(count)])


def test_a_thread_runtime_flow_hands_requests_over_without_a_grpc_leg():
    flow = Flow(quiet=True, runtime="thread").add(uses=Stamp, name="a").add(uses=Stamp, name="b")
    with flow:
        before = local.handed_over()
        answers = [flow.post("/", _docs(3), return_type=DocList[TextDoc]) for _ in range(4)]
        taken = local.handed_over() - before
    assert taken == 8  # 4 requests x 2 Executors, each exactly once
    assert all([doc.text for doc in docs] == [f"{i}|a|b" for i in range(3)] for docs in answers)


def test_an_edge_with_a_fault_keeps_its_socket():
    with FakeNetwork() as network:
        flow = network.attach(Flow(quiet=True, runtime="thread").add(uses=Stamp, name="a"))
        edge = network.edge("gateway", "a", layer="grpc")
        with flow:
            edge.fail(grpc.StatusCode.UNAVAILABLE, times=1)
            before = local.handed_over()
            docs = flow.post("/", _docs(2), return_type=DocList[TextDoc])
            taken = local.handed_over() - before
    assert taken == 0
    assert [doc.text for doc in docs] == ["0|a", "1|a"]  # retried after the fault, answered once


def test_an_error_in_process_names_the_executor_and_cause():
    with Flow(quiet=True, runtime="thread").add(uses=Fails, name="failing") as flow:
        before = local.handed_over()
        with pytest.raises(ExecutorError) as caught:
            flow.post("/", _docs(1))
        assert local.handed_over() - before == 1
    assert caught.value.executor == "failing"
    assert "this Executor always fails" in str(caught.value)


def test_timeout_send_holds_in_process():
    Waits.release.clear()
    flow = Flow(quiet=True, runtime="thread").add(uses=Waits, name="slow", timeout_send=200)
    try:
        with flow:
            with pytest.raises(ExecutorError) as caught:
                flow.post("/", _docs(1))
            Waits.release.set()
    finally:
        Waits.release.set()
    assert caught.value.executor == "slow"
    assert "timeout_send" in str(caught.value)
