"""Floating Executors (FLOW-15, FLOW-16): the response does not wait for them; closing does."""

import pathlib
import threading

import pytest
from docarray import BaseDoc, DocList

from devkit import Executor, Flow, requests
from devkit.spec.flow import GATEWAY


class TextDoc(BaseDoc):
    text: str = ""


class FastChangingExecutor(Executor):
    @requests()
    def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = "Hello World"


#: Set when SlowChangingExecutor received a request; it then waits for RELEASE, which is set
#: unless a test holds it (the `held` fixture). Events work across threads: thread runtime only.
RECEIVED = threading.Event()
RELEASE = threading.Event()
RELEASE.set()


class SlowChangingExecutor(Executor):
    """Waits until the test releases it, then records what it received in ``marker`` (the
    floating side effect)."""

    def __init__(self, marker: str, **kwargs):
        super().__init__(**kwargs)
        self.marker = pathlib.Path(marker)

    @requests()
    def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        RECEIVED.set()
        RELEASE.wait(30)
        with self.marker.open("a") as out:
            out.write(f"Received {docs.text}\n")
        for doc in docs:
            doc.text = "Change the document but will not affect response"


def needs_of(flow: Flow) -> dict[str, tuple[str, ...]]:
    return {e.name: e.needs for e in flow.spec.executors}


def floating_of(flow: Flow) -> dict[str, bool]:
    return {e.name: e.floating for e in flow.spec.executors}


@pytest.fixture
def held():
    """SlowChangingExecutor holds every request until the test (or this fixture) lets go."""
    RECEIVED.clear()
    RELEASE.clear()
    yield
    RELEASE.set()


def test_response_does_not_wait_for_a_floating_executor_but_close_does(tmp_path, held):
    marker = tmp_path / "floating.log"
    f = (
        Flow(quiet=True)
        .add(name="executor0", uses=FastChangingExecutor)
        .add(
            name="floating_executor",
            uses=SlowChangingExecutor,
            uses_with={"marker": str(marker)},
            needs=["gateway"],
            floating=True,
        )
    )
    with f:
        response = f.post(
            on="/endpoint", inputs=DocList[TextDoc]([TextDoc(), TextDoc()]), return_type=DocList[TextDoc]
        )
        assert response.text == ["Hello World", "Hello World"]
        assert RECEIVED.wait(30)  # the floating Executor has the request ...
        assert not marker.exists()  # ... and is still holding it: the response did not wait
        RELEASE.set()
    # leaving `with` waited for the floating Executor to finish the request it was sent
    assert marker.read_text() == "Received ['', '']\n"


def test_floating_output_never_reaches_the_client(tmp_path):
    f = (
        Flow(quiet=True)
        .add(name="executor0", uses=FastChangingExecutor)
        .add(
            name="float", uses=SlowChangingExecutor, uses_with={"marker": str(tmp_path / "m")}, floating=True
        )
    )
    assert needs_of(f)["float"] == ("executor0",)
    with f:
        assert f.post("/", TextDoc(), return_type=DocList[TextDoc]).text == ["Hello World"]


def test_a_non_floating_executor_after_a_floating_one_chains_to_the_previous_non_floating():
    f = Flow().add().add(name="middle", floating=True).add()
    assert needs_of(f) == {"executor0": (GATEWAY,), "middle": ("executor0",), "executor2": ("executor0",)}
    assert floating_of(f) == {"executor0": False, "middle": True, "executor2": False}


def test_floating_executors_chain_with_explicit_needs():
    f = Flow().add().add(name="middle", floating=True).add(needs=["middle"], floating=True)
    assert needs_of(f) == {"executor0": (GATEWAY,), "middle": ("executor0",), "executor2": ("middle",)}
    assert floating_of(f) == {"executor0": False, "middle": True, "executor2": True}


def test_a_floating_executor_needed_by_a_non_floating_one_stops_floating():
    f = Flow().add().add(name="middle", floating=True).add(needs=["middle"])
    assert needs_of(f) == {"executor0": (GATEWAY,), "middle": ("executor0",), "executor2": ("middle",)}
    assert floating_of(f) == {"executor0": False, "middle": False, "executor2": False}


def test_a_no_longer_floating_executor_feeds_the_response():
    f = Flow(quiet=True).add(name="fast", uses=FastChangingExecutor, floating=True).add(needs=["fast"])
    with f:
        assert f.post("/", TextDoc(), return_type=DocList[TextDoc]).text == ["Hello World"]
