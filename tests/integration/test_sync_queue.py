"""A sync Executor's queue on a real server: requests nobody waits for are skipped, and sync
generators leave the event loop free.

Sync methods run one at a time on the worker's private thread. These tests use the thread
runtime so the Executor's class-level events are shared with the test, which synchronises on
them (and on the worker's log) instead of on time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from docarray import BaseDoc, DocList

from devkit import Client, Deployment, Executor, Flow, requests

WAIT = 20.0  # seconds any event may take on a loaded machine before the test fails


class TextDoc(BaseDoc):
    text: str = ""


def docs(text: str) -> DocList[TextDoc]:
    return DocList[TextDoc]([TextDoc(text=text)])


class Recorder(Executor):
    """Records every request it runs; ``/slow`` holds the thread until the test releases it."""

    slow_started = threading.Event()
    release = threading.Event()
    ran: list[str] = []

    @requests(on="/slow")
    def slow(self, docs: DocList[TextDoc], **kwargs) -> None:
        self.ran.extend(doc.text for doc in docs)
        type(self).slow_started.set()
        type(self).release.wait(WAIT)

    @requests(on="/quick")
    def quick(self, docs: DocList[TextDoc], **kwargs) -> None:
        self.ran.extend(doc.text for doc in docs)


class LogWatch(logging.Handler):
    """Sets ``seen`` once a record containing ``text`` is logged."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@pytest.fixture
def abandoned_watch() -> Iterator[LogWatch]:
    logger = logging.getLogger("devkit.handler")
    watch, level = LogWatch("abandoned by its client"), logger.level
    logger.addHandler(watch)
    logger.setLevel(logging.DEBUG)
    try:
        yield watch
    finally:
        logger.removeHandler(watch)
        logger.setLevel(level)


def served(front: str) -> Deployment | Flow:
    """The Executor alone (its worker listens) or behind a Flow's gateway."""
    if front == "worker":
        return Deployment(uses=Recorder, port=0, host="127.0.0.1", quiet=True)
    return Flow(port=0, host="127.0.0.1", quiet=True).add(uses=Recorder, name="recorder")


@pytest.mark.parametrize("front", ["worker", "gateway"])
def test_a_request_whose_deadline_passed_in_the_queue_never_runs(
    front: str, abandoned_watch: LogWatch
) -> None:
    Recorder.slow_started.clear()
    Recorder.release.clear()
    Recorder.ran = []
    with served(front) as dep, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(dep.post, "/slow", docs("slow"))
        assert Recorder.slow_started.wait(WAIT), "the slow request never started"
        # queued behind /slow; its client gives up after 1 s
        with Client(host="127.0.0.1", port=dep.port) as impatient, pytest.raises(TimeoutError):
            impatient.post("/quick", docs("expired"), timeout=1.0)
        # the worker has seen the cancellation before the thread is free again
        assert abandoned_watch.seen.wait(WAIT), "the worker never noticed the client gave up"
        Recorder.release.set()
        slow.result(WAIT)
        dep.post("/quick", docs("quick"))
    assert Recorder.ran == ["slow", "quick"]


class Streamer(Executor):
    """A sync generator that waits, between two documents, for an async endpoint to run."""

    waiting = threading.Event()

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.released = threading.Event()

    @requests(on="/stream")
    def stream(self, doc: TextDoc, **kwargs) -> Iterator[TextDoc]:
        yield TextDoc(text="first")
        type(self).waiting.set()
        # /release (async, on the event loop) can only set this if the loop is not blocked
        yield TextDoc(text="released" if self.released.wait(WAIT / 2) else "the loop was blocked")

    @requests(on="/release")
    async def release(self, **kwargs) -> None:
        self.released.set()


def test_a_blocking_sync_generator_leaves_the_event_loop_free() -> None:
    Streamer.waiting.clear()
    with (
        Deployment(uses=Streamer, port=0, host="127.0.0.1", quiet=True) as dep,
        ThreadPoolExecutor(1) as pool,
    ):
        streamed = pool.submit(dep.stream_doc, "/stream", TextDoc(), return_type=TextDoc)
        assert Streamer.waiting.wait(WAIT), "the generator never reached its wait"
        with Client(host="127.0.0.1", port=dep.port) as other:
            other.post("/release", docs("go"))
        assert [doc.text for doc in streamed.result(WAIT)] == ["first", "released"]
