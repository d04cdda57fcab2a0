"""A single request to a devkit server takes a blocking unary call; it keeps the general
path's contract: retries, callbacks, observers, errors and return values."""

from __future__ import annotations

import pytest
from docarray import BaseDoc, DocList

from devkit import Executor, ExecutorError, ServerUnavailableError, requests


class TextDoc(BaseDoc):
    text: str = ""


class Echo(Executor):
    @requests
    def echo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            if doc.text == "boom":
                raise ValueError("boom was sent")
            doc.text += "!"


@pytest.fixture
def front(network):
    """The client -> gateway edge, on the gRPC layer (declared before anything dials it)."""
    return network.edge("client", "gateway", layer="grpc")


@pytest.fixture
def flow(network, flow_factory, front):
    flow = network.attach(flow_factory().add(uses=Echo, name="echo"))
    with flow:
        assert flow.post("/", TextDoc(text="warm-up"), return_type=DocList[TextDoc]).text == ["warm-up!"]
        assert flow.client._async.known_devkit_peer  # later single requests take the blocking call
        yield flow


def test_a_transient_failure_is_retried(front, flow):
    front.fail_first(1, "UNAVAILABLE")
    docs = flow.post(
        "/", TextDoc(text="a"), return_type=DocList[TextDoc], max_attempts=2, initial_backoff=0.01
    )
    assert docs.text == ["a!"]
    assert front.stats.faults == {"fail": 1}


def test_without_retries_the_failure_is_a_connection_error(front, flow):
    front.fail_first(1, "UNAVAILABLE")
    with pytest.raises(ServerUnavailableError, match="cannot reach the server"):
        flow.post("/", TextDoc(text="a"))


def test_callbacks_observers_and_return_values(flow):
    seen: list[str] = []
    flow.observers.append(lambda response: seen.append("observed"))
    result = flow.post(
        "/",
        [TextDoc(text="boom")],
        on_error=lambda response: seen.append(response.status.exception.name),
        on_always=lambda response: seen.append("always"),
    )
    assert result is None  # a callback was given
    assert seen == ["observed", "ValueError", "always"]
    (response,) = flow.post("/", TextDoc(text="b"), return_responses=True, return_type=DocList[TextDoc])
    assert response.docs.text == ["b!"] and [route.executor for route in response.routes] == [
        "gateway",
        "echo",
    ]
    assert len(flow.post("/", TextDoc(text="boom"), continue_on_error=True)) == 0
    with pytest.raises(ExecutorError, match="'echo' raised ValueError"):
        flow.post("/", TextDoc(text="boom"))


def test_unknown_options_are_rejected(flow):
    with pytest.raises(TypeError, match="request_sise"):
        flow.post("/", TextDoc(text="a"), request_sise=3)
