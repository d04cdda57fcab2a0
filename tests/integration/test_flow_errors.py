"""Failures in a Flow: Executor errors, timeouts, unreachable replicas, retries, prefetch."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from docarray import BaseDoc, DocList

from devkit import (
    DevkitError,
    Executor,
    ExecutorError,
    ExecutorUnreachableError,
    Flow,
    RuntimeFailToStart,
    requests,
)
from devkit.testing.leaks import leaked_since, snapshot


class TextDoc(BaseDoc):
    text: str = ""


class Boom(Executor):
    @requests(on="/boom")
    def boom(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        raise NotImplementedError("No time for it")

    @requests
    async def ok(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        await asyncio.sleep(0.01)
        for doc in docs:
            doc.text = "fine"


class Slow(Executor):
    @requests
    async def slow(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        await asyncio.sleep(1.0)


class WhoAmI(Executor):
    @requests
    def who(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = f"rep-{self.runtime_args.replica_id}"


class FailsToLoad(Executor):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        raise RuntimeError("cannot load my model")


class Concurrency:
    """How many calls an Executor is serving at once, and the most it ever served."""

    lock = threading.Lock()
    now = 0
    peak = 0
    together = threading.Barrier(1)

    @classmethod
    def enter(cls) -> None:
        with cls.lock:
            cls.now += 1
            cls.peak = max(cls.peak, cls.now)

    @classmethod
    def leave(cls) -> None:
        with cls.lock:
            cls.now -= 1


class Counted(Executor):
    """Counts the calls it serves at once; each waits until ``Concurrency.together`` calls are
    inside, so overlapping is certain rather than a matter of timing (thread runtime)."""

    @requests
    async def counted(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        Concurrency.enter()
        try:
            await asyncio.to_thread(Concurrency.together.wait, 30)
        finally:
            Concurrency.leave()


@pytest.fixture
def concurrency():
    Concurrency.now = Concurrency.peak = 0
    yield Concurrency
    Concurrency.together = threading.Barrier(1)


# -- ERR-1 / ERR-2: Executor errors ---------------------------------------------------------
def test_an_executor_exception_reaches_the_client_naming_the_executor():
    flow = Flow(quiet=True).add(name="first").add(uses=Boom, name="exploder")
    with flow as f, pytest.raises(ExecutorError) as info:
        f.post("/boom", TextDoc(), return_type=DocList[TextDoc])
    assert info.value.executor == "exploder"
    assert info.value.name == "NotImplementedError"
    assert "No time for it" in str(info.value)


def test_the_flow_keeps_serving_concurrent_requests_after_an_executor_error():
    with Flow(quiet=True).add(uses=Boom, name="exploder") as f:

        def call(endpoint: str) -> str:
            try:
                return f.post(endpoint, TextDoc(), return_type=DocList[TextDoc]).text[0]
            except ExecutorError as exc:
                return f"error from {exc.executor}"

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(call, ["/boom", "/ok"] * 8))
    assert results == ["error from exploder", "fine"] * 8


def test_an_error_in_one_branch_fails_the_request_and_names_that_branch():
    flow = Flow(quiet=True).add(uses=Boom, name="bad").add(name="good", needs="gateway").needs_all()
    with flow as f, pytest.raises(ExecutorError) as info:
        f.post("/boom", TextDoc())
    assert info.value.executor == "bad"


def test_an_executor_that_fails_to_load_fails_the_start_and_leaves_nothing_running():
    before = snapshot()
    flow = Flow(quiet=True).add(name="fine").add(uses=FailsToLoad, name="broken")
    with pytest.raises(RuntimeFailToStart, match="cannot load my model"), flow:
        pass
    assert leaked_since(before) == []


# -- ERR-4: timeout_send --------------------------------------------------------------------
def test_timeout_send_fails_the_request_naming_the_slow_executor():
    with (
        Flow(quiet=True, timeout_send=200).add(uses=Slow, name="sloth") as f,
        pytest.raises(DevkitError) as info,
    ):
        f.post("/", TextDoc())
    message = str(info.value)
    assert "'sloth'" in message and "timeout_send" in message


def test_timeout_send_per_executor_overrides_the_flow():
    with Flow(quiet=True, timeout_send=200).add(uses=Slow, name="sloth", timeout_send=5000) as f:
        assert f.post("/", TextDoc(text="late"), return_type=DocList[TextDoc]).text == ["late"]


# -- ERR-5 / ERR-7: retries across replicas -------------------------------------------------
def stop_replica(flow: Flow, name: str) -> None:
    (handle,) = [h for h in flow._group.handles if h.name == name]
    handle.stop()


def test_requests_still_succeed_when_one_replica_is_unreachable():
    with Flow(quiet=True).add(uses=WhoAmI, name="who", replicas=3) as f:
        stop_replica(f, "who/rep-1")
        texts = [f.post("/", TextDoc(), return_type=DocList[TextDoc]).text[0] for _ in range(6)]
    assert set(texts) == {"rep-0", "rep-2"}


def test_without_retries_an_unreachable_replica_fails_naming_its_address():
    with Flow(quiet=True, retries=0).add(uses=WhoAmI, name="who") as f:
        (address,) = f._nodes[0].shards[0]
        stop_replica(f, "who/rep-0")
        with pytest.raises(DevkitError) as info:
            f.post("/", TextDoc())
    assert "'who'" in str(info.value) and address in str(info.value)


# -- GW-31: prefetch ------------------------------------------------------------------------
def test_gateway_prefetch_limits_concurrent_executor_calls(concurrency):
    concurrency.together = threading.Barrier(2)  # calls pass in pairs; a third at once would show
    f = Flow(quiet=True).config_gateway(prefetch=2).add(uses=Counted)
    with f:
        f.post("/", DocList[TextDoc]([TextDoc() for _ in range(12)]), request_size=1)
    assert concurrency.peak == 2


def test_without_gateway_prefetch_requests_overlap(concurrency):
    concurrency.together = threading.Barrier(3)  # breaks (and the test fails) unless 3 overlap
    with Flow(quiet=True).add(uses=Counted) as f:
        f.post("/", DocList[TextDoc]([TextDoc() for _ in range(12)]), request_size=1)
    assert concurrency.peak > 2


def test_an_unreachable_executor_is_a_connection_error_naming_it() -> None:
    flow = Flow(quiet=True).add(host="127.0.0.1:1", external=True, name="gone", retries=0)
    with flow, pytest.raises(ConnectionError, match="'gone'") as caught:
        flow.post("/")
    assert isinstance(caught.value, ExecutorUnreachableError)
    assert caught.value.executor == "gone"


class _Fatal(Executor):
    @requests(on="/fatal")
    def fatal(self, **kwargs):
        raise MemoryError("the model no longer fits")

    @requests(on="/fine")
    def fine(self, **kwargs):
        raise ValueError("a bad input only")


def test_exit_on_exceptions_answers_then_stops_the_executor() -> None:
    flow = Flow(quiet=True).add(uses=_Fatal, name="fragile", exit_on_exceptions=["MemoryError"])
    with flow:
        with pytest.raises(ExecutorError, match="ValueError"):
            flow.post("/fine")
        assert sorted(flow.alive_servers) == ["Flow/gateway", "fragile/rep-0"]
        with pytest.raises(ExecutorError, match="MemoryError"):
            flow.post("/fatal")  # answered with the error before the Executor goes away
        deadline = time.monotonic() + 10
        while "fragile/rep-0" in flow.alive_servers and time.monotonic() < deadline:
            time.sleep(0.05)
        assert flow.alive_servers == ["Flow/gateway"]
        with pytest.raises(ExecutorUnreachableError, match="'fragile'"):
            flow.post("/fine")
