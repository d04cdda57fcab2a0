"""Dynamic batching's configuration and its queue, without a server (the queue on a manual clock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from docarray import BaseDoc, DocList

from devkit import ConfigError, Executor, NotSupportedYetError, dynamic_batching, requests
from devkit.executor.batching import BatchingConfig
from devkit.serve.batching import Batcher
from devkit.testing.clock import ManualClock


class TextDoc(BaseDoc):
    text: str = ""


def docs(*texts: str) -> DocList[TextDoc]:
    return DocList[TextDoc]([TextDoc(text=text) for text in texts])


class Encoder(Executor):
    @requests(on="/bar")
    @dynamic_batching(preferred_batch_size=10, timeout=200)
    def bar(self, docs: DocList[TextDoc], **kwargs) -> None: ...

    @requests(on="/baz")
    def baz(self, docs: DocList[TextDoc], **kwargs) -> None: ...

    @requests(on="/stream")
    async def stream(self, doc: TextDoc, **kwargs) -> AsyncIterator[TextDoc]:
        yield doc


def test_the_decorator_batches_only_the_endpoints_it_marks():
    encoder = Encoder()
    assert encoder.dynamic_batching == {"/bar": BatchingConfig(preferred_batch_size=10, timeout=200)}
    assert encoder.batching_for("/baz") is None


def test_timeout_defaults_to_ten_seconds():
    class Defaults(Executor):
        @requests(on="/bar")
        @dynamic_batching(preferred_batch_size=4)
        def bar(self, docs, **kwargs) -> None: ...

    assert Defaults().batching_for("/bar") == BatchingConfig(preferred_batch_size=4, timeout=10_000)


def test_uses_dynamic_batching_sets_and_overrides_per_endpoint():
    encoder = Encoder(
        dynamic_batching={
            "/bar": {"preferred_batch_size": 2},
            "baz": {"preferred_batch_size": 3, "timeout": 50},
        }
    )
    assert encoder.batching_for("/bar") == BatchingConfig(preferred_batch_size=2)
    assert encoder.batching_for("/baz") == BatchingConfig(preferred_batch_size=3, timeout=50)
    assert Encoder(dynamic_batching={"/bar": {"use_dynamic_batching": False}}).dynamic_batching == {}


@pytest.mark.parametrize(
    "batching, error, message",
    [
        (
            {"/nope": {"preferred_batch_size": 2}},
            ConfigError,
            r"'/nope'\] names an endpoint Encoder does not serve",
        ),
        (
            {"/bar": {"preferred_batch_size": 0}},
            ConfigError,
            "preferred_batch_size must be a positive integer",
        ),
        ({"/bar": {"timeout": -1}}, ConfigError, "timeout is in milliseconds and must be positive"),
        ({"/bar": {"size": 2}}, ConfigError, r"unknown dynamic batching option\(s\) \['size'\]"),
        ({"/bar": 4}, ConfigError, "expected a mapping"),
        ({"/stream": {"preferred_batch_size": 2}}, ConfigError, "streams documents"),
        ({"/bar": {"custom_metric": len, "use_custom_metric": True}}, NotSupportedYetError, "custom_metric"),
    ],
)
def test_bad_batching_is_refused_when_the_executor_is_built(batching, error, message):
    with pytest.raises(error, match=message):
        Encoder(dynamic_batching=batching)


async def _run(batches: list[list[str]], batch: DocList[TextDoc]):
    batches.append([doc.text for doc in batch])
    for doc in batch:
        doc.text = doc.text.upper()
    return batch, None


async def _until(condition, tries: int = 1000) -> None:
    """Let the loop run until ``condition()`` holds (no time passes on the manual clock)."""
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def test_a_stopping_server_flushes_what_is_queued_without_waiting():
    async def scenario() -> None:
        clock, batches = ManualClock(), []
        batcher = Batcher("enc", clock)
        config = BatchingConfig(preferred_batch_size=10, timeout=10_000)
        waiting = asyncio.create_task(
            batcher.submit("/bar", "{}", config, docs("a"), lambda b: _run(batches, b))
        )
        await _until(lambda: clock.armed == 1)
        batcher.flush_now()
        out, _ = await waiting
        assert [doc.text for doc in out] == ["A"]
        assert batcher.queues == {}  # an empty queue is dropped

    asyncio.run(scenario())


def test_a_batch_that_returns_another_number_of_documents_fails_its_requests():
    async def scenario() -> None:
        clock = ManualClock()
        batcher = Batcher("enc", clock)
        config = BatchingConfig(preferred_batch_size=2)

        async def shrink(batch: DocList[TextDoc]):
            return batch[:1], None

        first = asyncio.create_task(batcher.submit("/bar", "{}", config, docs("a"), shrink))
        await _until(lambda: clock.armed == 1)
        second = asyncio.create_task(batcher.submit("/bar", "{}", config, docs("b"), shrink))
        for task in (first, second):
            with pytest.raises(ValueError, match="returned 1 documents for a batch of 2"):
                await task

    asyncio.run(scenario())


def test_flush_all_hands_over_everything_queued():
    async def scenario() -> None:
        clock, batches = ManualClock(), []
        batcher = Batcher("enc", clock)
        config = BatchingConfig(preferred_batch_size=2, flush_all=True)
        task = asyncio.create_task(
            batcher.submit("/bar", "{}", config, docs("a", "b", "c"), lambda b: _run(batches, b))
        )
        out, _ = await task
        assert [doc.text for doc in out] == ["A", "B", "C"]
        assert batches == [["a", "b", "c"]]

    asyncio.run(scenario())
