"""Dynamic batching: one queue per (endpoint, parameters), flushed by size or by time.

A request to a batched endpoint joins the queue of its endpoint and parameters and waits.
The queue hands the Executor a batch once ``preferred_batch_size`` documents are queued or
its oldest request has waited ``timeout`` ms; a batch holds at most ``preferred_batch_size``
documents, so a large request is split over several batches. The Executor returns one
document per document received; they are split back by count, in order, to the requests
they came from. An exception fails exactly the requests with documents in that batch. A
request whose caller gives up (cancelled) leaves its queue: its documents not yet handed over
are never run. One batch per queue runs at a time; the next one fills meanwhile.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from docarray import DocList

from devkit.executor.batching import BatchingConfig
from devkit.serve.clock import Clock, current_clock

__all__ = ["BatchQueue", "Batcher"]

log = logging.getLogger("devkit.batching")

Results = dict[str, Any] | None
#: Runs the endpoint on one batch; returns its documents and its results dict (or None).
Run = Callable[[DocList[Any]], Awaitable[tuple[DocList[Any], Results]]]


class _Entry:
    """One waiting request: its documents, and what came back for those already run."""

    __slots__ = ("answered", "arrived", "docs", "future", "parts", "results", "run", "taken")

    def __init__(self, docs: DocList[Any], run: Run, future: asyncio.Future[Any], arrived: float) -> None:
        self.docs, self.run, self.future, self.arrived = docs, run, future, arrived
        self.taken = 0  # documents handed to a batch
        self.answered = 0  # documents whose batch came back
        self.parts: list[DocList[Any]] = []
        self.results: Results = None

    @property
    def left(self) -> int:
        return len(self.docs) - self.taken

    def deliver(self, part: DocList[Any], results: Results) -> None:
        if self.future.done():  # failed by an earlier batch, or cancelled
            return
        self.parts.append(part)
        self.answered += len(part)
        if results is not None:
            self.results = {**(self.results or {}), **results}
        if self.answered == len(self.docs):
            out = self.parts[0] if len(self.parts) == 1 else type(self.parts[0])(itertools.chain(*self.parts))
            self.future.set_result((out, self.results))


class BatchQueue:
    """The requests of one endpoint with one set of parameters, waiting to be batched."""

    def __init__(self, name: str, config: BatchingConfig, clock: Clock, on_idle: Callable[[], None]) -> None:
        self.name = name
        self.config = config
        self.flushing = False  # the server is stopping: hand over what is queued without waiting
        self._clock = clock
        self._on_idle = on_idle
        self._pending: deque[_Entry] = deque()
        self._queued = 0  # documents not yet handed to a batch
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        return self._queued

    async def submit(self, docs: DocList[Any], run: Run) -> tuple[DocList[Any], Results]:
        """Wait for ``docs`` to be run in one or more batches; their output, in order."""
        loop = asyncio.get_running_loop()
        entry = _Entry(docs, run, loop.create_future(), self._clock.now())
        self._pending.append(entry)
        self._queued += len(docs)
        if self._task is None:
            self._task = loop.create_task(self._consume(), name=f"devkit-batch {self.name}")
        elif self._ready():
            self.poke()
        try:
            result: tuple[DocList[Any], Results] = await entry.future
            return result
        except asyncio.CancelledError:
            self._leave(entry)
            raise

    def poke(self) -> None:
        """Make the queue look again at whether a batch is due."""
        if self._wake is not None:
            self._wake.set()

    def _leave(self, entry: _Entry) -> None:
        if entry in self._pending:
            self._pending.remove(entry)
            self._queued -= entry.left
            self.poke()

    def _ready(self) -> bool:
        size = self.config.preferred_batch_size
        return (
            self.flushing
            or (size is not None and self._queued >= size)
            or self._clock.now() >= self._pending[0].arrived + self.config.timeout_s
        )

    async def _consume(self) -> None:
        try:
            while self._pending:
                if self._ready():
                    await self._flush()
                else:
                    await self._wait(self._pending[0].arrived + self.config.timeout_s)
        finally:
            self._task = None
            for entry in self._pending:  # only if this task itself was cancelled (loop closing)
                if not entry.future.done():
                    entry.future.set_exception(RuntimeError(f"{self.name}: the batching queue stopped"))
            self._on_idle()

    async def _wait(self, deadline: float) -> None:
        self._wake = asyncio.Event()
        timer = self._clock.call_at(deadline, self._wake.set, asyncio.get_running_loop())
        try:
            await self._wake.wait()
        finally:
            timer.cancel()
            self._wake = None

    def _take(self) -> list[tuple[_Entry, int, int]]:
        """(request, first document, count) from the front, up to the batch size."""
        size = self.config.preferred_batch_size
        room = None if self.config.flush_all or size is None else size
        taken: list[tuple[_Entry, int, int]] = []
        total = 0
        while self._pending and (room is None or total < room):
            entry = self._pending[0]
            count = entry.left if room is None else min(entry.left, room - total)
            taken.append((entry, entry.taken, count))
            entry.taken += count
            total += count
            self._queued -= count
            if entry.left == 0:
                self._pending.popleft()
        return taken

    async def _flush(self) -> None:
        taken = self._take()
        first, start, count = taken[0]
        if len(taken) == 1 and start == 0 and count == len(first.docs):
            batch = first.docs  # one whole request: no copy
        else:
            batch = type(first.docs)(
                itertools.chain.from_iterable(
                    itertools.islice(entry.docs, start, start + count) for entry, start, count in taken
                )
            )
        try:
            out, results = await first.run(batch)
            if len(out) != len(batch):
                raise ValueError(
                    f"{self.name} returned {len(out)} documents for a batch of {len(batch)}; a dynamically "
                    "batched endpoint returns one document per document it receives (or None to keep them), "
                    "so that each request gets its own back"
                )
        except BaseException as exc:
            for entry, _, _ in taken:
                self._fail(
                    entry, exc if isinstance(exc, Exception) else RuntimeError(f"{self.name}: {exc!r}")
                )
            if not isinstance(exc, Exception):
                raise
            return
        offset = 0
        for entry, _, count in taken:
            entry.deliver(out[offset : offset + count], results)
            offset += count

    def _fail(self, entry: _Entry, exc: Exception) -> None:
        if entry in self._pending:  # the rest of its documents will not be run either
            self._pending.remove(entry)
            self._queued -= entry.left
        if not entry.future.done():
            entry.future.set_exception(exc)


class Batcher:
    """The batching queues of one Executor, created on first use and dropped when empty."""

    def __init__(self, name: str, clock: Clock | None = None) -> None:
        self.name = name
        self.clock = clock or current_clock()
        self._queues: dict[tuple[str, str], BatchQueue] = {}
        self._flushing = False

    @property
    def queues(self) -> dict[tuple[str, str], BatchQueue]:
        """The queues holding requests now, by (endpoint, parameters as canonical JSON)."""
        return dict(self._queues)

    async def submit(
        self, endpoint: str, parameters: str, config: BatchingConfig, docs: DocList[Any], run: Run
    ) -> tuple[DocList[Any], Results]:
        key = (endpoint, parameters)
        queue = self._queues.get(key)
        if queue is None:
            queue = BatchQueue(
                f"{self.name!r} endpoint {endpoint!r}", config, self.clock, lambda: self._drop(key)
            )
            queue.flushing = self._flushing
            self._queues[key] = queue
        return await queue.submit(docs, run)

    def _drop(self, key: tuple[str, str]) -> None:
        self._queues.pop(key, None)

    def flush_now(self) -> None:
        """Stop waiting: hand every queued request to the Executor (the server is stopping)."""
        self._flushing = True
        for queue in self._queues.values():
            queue.flushing = True
            queue.poke()
