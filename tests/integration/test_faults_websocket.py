"""An unreachable Executor behind the WebSocket gateway: every request of the call is answered
once, the failing ones with an error naming the Executor, and the stream goes on."""

from __future__ import annotations

import pytest
from docarray import BaseDoc, DocList

from devkit import Executor, requests
from devkit.client.response import Response
from devkit.errors import ExecutorUnreachableError


class TextDoc(BaseDoc):
    text: str = ""


class Stamp(Executor):
    @requests
    def stamp(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += "!"


def _docs(count: int) -> DocList[TextDoc]:
    return DocList[TextDoc]([TextDoc(text=f"doc-{i}") for i in range(count)])


@pytest.mark.devkit_protocols("websocket")
def test_a_partitioned_executor_fails_each_request_and_the_stream_goes_on(
    network, flow_factory, client_factory
):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    edge = network.edge("gateway", "encoder")
    with flow:
        client = client_factory(flow)
        assert len(client.post("/", _docs(1))) == 1  # connected before the fault
        done: list[Response] = []
        failed: list[Response] = []
        with edge.partition():
            client.post(
                "/", _docs(4), request_size=1, on_done=done.append, on_error=failed.append, max_attempts=1
            )
            assert done == [] and len(failed) == 4  # one answer per request
            assert len({response.header.request_id for response in failed}) == 4
            for response in failed:
                assert response.status.exception.name == "ExecutorUnavailableError"
                assert response.status.exception.executor == "encoder"
            with pytest.raises(ExecutorUnreachableError, match="encoder") as caught:
                client.post("/", _docs(2), request_size=1)  # no on_error: raised, as over gRPC
            assert caught.value.executor == "encoder"
        got = client.post("/", _docs(3), return_type=DocList[TextDoc])
    assert got.text == ["doc-0!", "doc-1!", "doc-2!"]


@pytest.mark.devkit_protocols("websocket")
def test_one_failing_request_of_a_call_is_answered_with_its_error_and_the_others_with_data(
    network, flow_factory, client_factory
):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder", retries=0))
    edge = network.edge("gateway", "encoder", layer="grpc")
    edge.fail("UNAVAILABLE", where={"text": {"$eq": "doc-1"}})
    done: list[Response] = []
    failed: list[Response] = []
    with flow:
        client_factory(flow).post(
            "/",
            _docs(4),
            request_size=1,
            on_done=done.append,
            on_error=failed.append,
            return_type=DocList[TextDoc],
        )
    assert sorted(response.docs[0].text for response in done) == ["doc-0!", "doc-2!", "doc-3!"]
    (error,) = failed
    assert error.status.exception.name == "ExecutorUnavailableError"
    assert error.status.exception.executor == "encoder"
    assert "doc-1" in {doc.text for doc in error.docs}  # the failing request's own documents
