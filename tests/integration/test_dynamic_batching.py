"""Dynamic batching on real servers: queues per endpoint and parameters, flushed by size or time.

The thread-runtime tests drive the batching timeout with the ``batch_clock`` fixture: time
moves only when the test calls ``batch_clock.advance``, and ``batch_clock.wait_armed(n)``
returns once ``n`` queues hold requests, so nothing here sleeps or races a timer.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from docarray import BaseDoc, DocList

from devkit import Client, Deployment, Executor, ExecutorError, Flow, dynamic_batching, requests
from devkit.testing.clock import ManualClock

WAIT = 20.0  # seconds a request may take on a loaded machine before the test fails


class TextDoc(BaseDoc):
    text: str = ""


def docs(*texts: str) -> DocList[TextDoc]:
    return DocList[TextDoc]([TextDoc(text=text) for text in texts])


def texts(answer: DocList[TextDoc]) -> list[str]:
    return [doc.text for doc in answer]


class Embedder(Executor):
    """Records each batch it receives and marks each document with the batch's parameters."""

    batches: list[list[str]] = []

    @requests(on="/embed")
    @dynamic_batching(preferred_batch_size=4, timeout=200)
    def embed(self, docs: DocList[TextDoc], parameters: dict, **kwargs) -> DocList[TextDoc]:
        type(self).batches.append(texts(docs))
        if any(doc.text.startswith("boom") for doc in docs):
            raise ValueError("cannot embed a boom document")
        for doc in docs:
            doc.text = f"{doc.text}!{parameters.get('tag', '')}"
        return docs

    @requests(on="/plain")
    def plain(self, docs: DocList[TextDoc], **kwargs) -> None:
        type(self).batches.append(texts(docs))


@pytest.fixture
def embedder(batch_clock: ManualClock) -> Iterator[Deployment]:
    Embedder.batches = []
    with Deployment(
        uses=Embedder, name="embedder", runtime="thread", port=0, host="127.0.0.1", quiet=True
    ) as dep:
        yield dep


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(8) as threads:
        yield threads


def post(pool: ThreadPoolExecutor, dep: Deployment, *texts_: str, **kwargs) -> Future:
    """Post from a client of its own, in the background."""

    def call() -> DocList[TextDoc]:
        with Client(host="127.0.0.1", port=dep.port) as client:
            return client.post("/embed", docs(*texts_), return_type=DocList[TextDoc], **kwargs)

    return pool.submit(call)


def test_a_batch_is_flushed_once_preferred_batch_size_documents_are_queued(embedder, batch_clock, pool):
    first = post(pool, embedder, "a0", "a1")
    batch_clock.wait_armed(1)  # queued, waiting for more documents or for time
    second = post(pool, embedder, "b0", "b1")
    assert texts(first.result(WAIT)) == ["a0!", "a1!"]
    assert texts(second.result(WAIT)) == ["b0!", "b1!"]
    assert Embedder.batches == [["a0", "a1", "b0", "b1"]]


def test_a_batch_is_flushed_when_the_oldest_request_has_waited_timeout_ms(embedder, batch_clock, pool):
    waiting = post(pool, embedder, "a0", "a1", "a2")
    batch_clock.wait_armed(1)
    batch_clock.advance(ms=199)
    assert batch_clock.armed == 1 and Embedder.batches == []
    batch_clock.advance(ms=1)
    assert texts(waiting.result(WAIT)) == ["a0!", "a1!", "a2!"]
    assert Embedder.batches == [["a0", "a1", "a2"]]


def test_the_executor_never_gets_more_than_preferred_batch_size_and_each_request_its_own_docs_in_order(
    embedder, pool
):
    # 8 clients x 3 documents = 6 full batches of 4: no timeout involved, whatever the interleaving
    answers = [post(pool, embedder, *(f"c{c}-{i}" for i in range(3))) for c in range(8)]
    for c, answer in enumerate(answers):
        assert texts(answer.result(WAIT)) == [f"c{c}-{i}!" for i in range(3)]
    assert [len(batch) for batch in Embedder.batches] == [4] * 6
    for c in range(8):  # each client's documents reached the Executor in the order it sent them
        seen = [text for batch in Embedder.batches for text in batch if text.startswith(f"c{c}-")]
        assert seen == [f"c{c}-{i}" for i in range(3)]


def test_a_request_larger_than_preferred_batch_size_is_split_across_batches(embedder, batch_clock, pool):
    large = post(pool, embedder, *(f"d{i}" for i in range(10)))
    batch_clock.wait_armed(1)  # two full batches ran; the last 2 documents wait for time
    assert Embedder.batches == [[f"d{i}" for i in range(4)], [f"d{i}" for i in range(4, 8)]]
    batch_clock.advance(ms=200)
    assert texts(large.result(WAIT)) == [f"d{i}!" for i in range(10)]
    assert Embedder.batches[-1] == ["d8", "d9"]


def test_an_error_fails_exactly_the_requests_of_its_batch(embedder, batch_clock, pool):
    doomed = post(pool, embedder, "boom")
    batch_clock.wait_armed(1)
    neighbour = post(pool, embedder, "n0", "n1", "n2")  # shares the failing batch
    for answer in (doomed, neighbour):
        with pytest.raises(ExecutorError, match="cannot embed a boom document") as info:
            answer.result(WAIT)
        assert "Executor 'embedder'" in str(info.value)
    after = [post(pool, embedder, "x0", "x1"), post(pool, embedder, "y0", "y1")]  # a later batch is fine
    assert sorted(text for answer in after for text in texts(answer.result(WAIT))) == [
        "x0!",
        "x1!",
        "y0!",
        "y1!",
    ]


def test_a_cancelled_request_leaves_its_queue(embedder, batch_clock):
    with (
        Client(host="127.0.0.1", port=embedder.port) as impatient,
        pytest.raises(TimeoutError),
    ):
        impatient.post("/embed", docs("gone0", "gone1"), timeout=1.0)  # gives up while queued
    batch_clock.wait_armed(0)  # its queue is empty again: nothing waits for time
    with ThreadPoolExecutor(1) as pool:
        kept = post(pool, embedder, "kept")
        batch_clock.wait_armed(1)
        batch_clock.advance(ms=200)
        assert texts(kept.result(WAIT)) == ["kept!"]
    assert Embedder.batches == [["kept"]]


def test_requests_with_different_parameters_wait_in_different_queues(embedder, batch_clock, pool):
    x_first = post(pool, embedder, "x0", "x1", parameters={"tag": "x"})
    batch_clock.wait_armed(1)
    y_only = post(pool, embedder, "y0", "y1", parameters={"tag": "y"})
    batch_clock.wait_armed(2)  # a second queue
    x_second = post(pool, embedder, "x2", "x3", parameters={"tag": "x"})
    assert texts(x_first.result(WAIT)) == ["x0!x", "x1!x"]
    assert texts(x_second.result(WAIT)) == ["x2!x", "x3!x"]
    batch_clock.wait_armed(1)
    batch_clock.advance(ms=200)
    assert texts(y_only.result(WAIT)) == ["y0!y", "y1!y"]
    assert Embedder.batches == [["x0", "x1", "x2", "x3"], ["y0", "y1"]]


def test_endpoints_without_batching_are_called_per_request(embedder):
    embedder.post("/plain", docs("p0"))
    assert Embedder.batches == [["p0"]]


class BatchedByConfig(Executor):
    """No decorator: batching comes from configuration."""

    batches: list[int] = []

    @requests(on="/bar")
    def bar(self, docs: DocList[TextDoc], **kwargs) -> None:
        type(self).batches.append(len(docs))


def _configured(how: str, tmp_path) -> Deployment:
    batching = {"/bar": {"preferred_batch_size": 2, "timeout": 200}}
    common = {"runtime": "thread", "port": 0, "host": "127.0.0.1", "quiet": True}
    if how == "argument":
        return Deployment(uses=BatchedByConfig, uses_dynamic_batching=batching, **common)
    executor_yaml = tmp_path / "config.yml"
    executor_yaml.write_text(
        textwrap.dedent(
            """\
            jtype: BatchedByConfig
            uses_dynamic_batching:
              /bar:
                preferred_batch_size: 2
                timeout: 200
            """
        )
    )
    if how == "executor-yaml":
        return Deployment(uses=str(executor_yaml), **common)
    deployment_yaml = tmp_path / "deployment.yml"
    deployment_yaml.write_text(
        textwrap.dedent(
            """\
            jtype: Deployment
            with:
              uses: BatchedByConfig
              runtime: thread
              port: 0
              quiet: true
              uses_dynamic_batching:
                /bar:
                  preferred_batch_size: 2
                  timeout: 200
            """
        )
    )
    return Deployment.load_config(str(deployment_yaml))


@pytest.mark.parametrize("how", ["argument", "executor-yaml", "deployment-yaml"])
def test_batching_configured_without_the_decorator(how, tmp_path, batch_clock):
    BatchedByConfig.batches = []
    with _configured(how, tmp_path) as dep, ThreadPoolExecutor(2) as pool:

        def one(text: str) -> Future:
            return pool.submit(lambda: Client(host="127.0.0.1", port=dep.port).post("/bar", docs(text)))

        first = one("a")
        batch_clock.wait_armed(1)
        second = one("b")
        first.result(WAIT), second.result(WAIT)
    assert BatchedByConfig.batches == [2]


class BatchSize(Executor):
    @requests(on="/size")
    @dynamic_batching(preferred_batch_size=3)
    def size(self, docs: DocList[TextDoc], **kwargs) -> None:
        for doc in docs:
            doc.text = f"{doc.text}:{len(docs)}"


@pytest.mark.process
@pytest.mark.slow
def test_batching_in_a_child_process():
    """Real time: three 1-document clients within the default 10 s timeout make one batch of 3."""
    with (
        Deployment(uses=BatchSize, runtime="process", port=0, host="127.0.0.1", quiet=True) as dep,
        ThreadPoolExecutor(3) as pool,
    ):

        def one(text: str) -> list[str]:
            with Client(host="127.0.0.1", port=dep.port) as client:
                return texts(client.post("/size", docs(text), return_type=DocList[TextDoc]))

        answers = [pool.submit(one, name) for name in "abc"]
        assert sorted(text for answer in answers for text in answer.result(WAIT)) == ["a:3", "b:3", "c:3"]


def test_a_stopping_deployment_answers_queued_requests_without_waiting_for_the_timeout(batch_clock):
    Embedder.batches = []
    with ThreadPoolExecutor(1) as pool:
        with Deployment(uses=Embedder, runtime="thread", port=0, host="127.0.0.1", quiet=True) as dep:
            answer = post(pool, dep, "s0")
            batch_clock.wait_armed(1)
        # the clock never moved: stopping ran the queued batch
        assert texts(answer.result(WAIT)) == ["s0!"]
    assert Embedder.batches == [["s0"]]


def test_a_flow_batches_requests_arriving_through_its_gateway(batch_clock):
    BatchedByConfig.batches = []
    flow = Flow(port=0, host="127.0.0.1", runtime="thread", quiet=True).add(
        uses=BatchedByConfig, name="bar", uses_dynamic_batching={"/bar": {"preferred_batch_size": 3}}
    )
    with flow, ThreadPoolExecutor(3) as pool:

        def one(text: str) -> Future:
            return pool.submit(lambda: Client(host="127.0.0.1", port=flow.port).post("/bar", docs(text)))

        first = one("a")
        batch_clock.wait_armed(1)
        rest = [one("b"), one("c")]
        for answer in (first, *rest):
            answer.result(WAIT)
    assert BatchedByConfig.batches == [3]


BAD_BATCHING = {
    "/nope": {"preferred_batch_size": 2},
    "/bar": {"preferred_batch_size": 0, "timeout": "soon", "size": 3},
    "plain": {"timeout": -5},
}
EVERY_OFFENDER = [
    r"uses_dynamic_batching\['/nope'\] names an endpoint BatchedByConfig does not serve",
    r"uses_dynamic_batching\['/bar'\]: unknown dynamic batching option\(s\) \['size'\]",
    r"preferred_batch_size must be a positive integer, got 0",
    r"timeout is in milliseconds and must be positive, got 'soon'",
    r"uses_dynamic_batching\['plain'\] names an endpoint",
    r"must be positive, got -5",
]


def _assert_names_every_offender(error: pytest.ExceptionInfo) -> None:
    import re

    message = str(error.value)
    missing = [pattern for pattern in EVERY_OFFENDER if not re.search(pattern, message)]
    assert missing == [], message


@pytest.mark.parametrize("builder", ["deployment", "flow"])
def test_bad_batching_is_reported_when_built_listing_every_offender(builder):
    from devkit.errors import ConfigError

    with pytest.raises(ConfigError, match="problem") as error:
        if builder == "deployment":
            Deployment(uses=BatchedByConfig, uses_dynamic_batching=BAD_BATCHING, quiet=True)
        else:
            Flow(quiet=True).add(uses=BatchedByConfig, name="batched", uses_dynamic_batching=BAD_BATCHING)
    _assert_names_every_offender(error)


def test_bad_batching_in_flow_yaml_is_reported_on_load_with_its_line(tmp_path):
    from devkit.errors import ConfigError

    path = tmp_path / "flow.yml"
    path.write_text(
        textwrap.dedent(
            """\
            jtype: Flow
            executors:
              - name: ok
                uses: BatchedByConfig
              - name: batched
                uses: BatchedByConfig
                uses_dynamic_batching:
                  /nope: {preferred_batch_size: 2}
                  /bar: {preferred_batch_size: 0, timeout: soon, size: 3}
                  plain: {timeout: -5}
            """
        )
    )
    with pytest.raises(ConfigError, match=r"flow.yml:5: Flow.add\(name='batched'\): 6 problem") as error:
        Flow.load_config(path)
    _assert_names_every_offender(error)


def test_good_batching_by_class_name_still_serves_after_the_early_check(tmp_path, batch_clock):
    """The check at build time looks the class up by name, and a good table serves as before."""
    BatchedByConfig.batches = []
    dep = Deployment(
        uses="BatchedByConfig",
        uses_dynamic_batching={"bar": {"preferred_batch_size": 2, "timeout": 200}},
        runtime="thread",
        port=0,
        host="127.0.0.1",
        quiet=True,
    )
    with dep, ThreadPoolExecutor(2) as pool:
        answers = [
            pool.submit(lambda t=t: Client(host="127.0.0.1", port=dep.port).post("/bar", docs(t)))
            for t in "ab"
        ]
        for answer in answers:
            answer.result(WAIT)
    assert BatchedByConfig.batches == [2]


def test_custom_metric_is_refused_when_built_and_its_off_switch_is_accepted(batch_clock):
    """jina's docs define preferred_batch_size and timeout only: a custom metric is refused,
    by name, when the Deployment is built; ``use_custom_metric: false`` alone changes nothing."""
    from devkit.errors import NotSupportedYetError

    metric = {"preferred_batch_size": 2, "custom_metric": len, "use_custom_metric": True}
    with pytest.raises(
        NotSupportedYetError, match=r"uses_dynamic_batching\['/bar'\]: custom_metric=<built-in"
    ):
        Deployment(uses=BatchedByConfig, uses_dynamic_batching={"/bar": metric}, quiet=True)
    BatchedByConfig.batches = []
    switched_off = {"/bar": {"preferred_batch_size": 2, "timeout": 200, "use_custom_metric": False}}
    dep = Deployment(
        uses=BatchedByConfig,
        uses_dynamic_batching=switched_off,
        runtime="thread",
        host="127.0.0.1",
        quiet=True,
    )
    with dep, ThreadPoolExecutor(2) as pool:
        answers = [
            pool.submit(lambda t=t: Client(host="127.0.0.1", port=dep.port).post("/bar", docs(t)))
            for t in "ab"
        ]
        for answer in answers:
            answer.result(WAIT)
    assert BatchedByConfig.batches == [2]  # counted in documents
