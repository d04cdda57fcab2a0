"""One private thread that runs blocking calls for an event loop, in submission order.

``loop.run_in_executor`` with a one-thread pool does the same job, but it chains a
``concurrent.futures.Future`` to an asyncio one through locks, condition variables and
extra callbacks; on a 2-core machine that hop measured about 85 us against about 30 us for
a queue plus ``call_soon_threadsafe``. Sync Executor methods pay the hop on every request.

A method that has *proven* quick skips even that hop: after :data:`PROBATION` calls on the
thread in a row that each took under :data:`INLINE_BELOW` seconds, its calls run directly on the
event loop, but only while nothing is queued for the thread, so calls still never overlap
or reorder. One inline call slower than :data:`DEMOTE_ABOVE` sends the method back to the
thread for good; so the loop (health checks, other requests) is held up at most once, by
one call that used to be quick.

A queued call whose waiter is gone (the request's client gave up: its deadline passed or it
cancelled, or a stopping server cut it off after its grace) is skipped when its turn comes,
counted in :attr:`SyncThread.skipped` and logged: work nobody waits for must not hold up the
calls queued behind it. A call that has started always runs to its end (threads cannot be
interrupted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["DEMOTE_ABOVE", "INLINE_BELOW", "PROBATION", "SyncThread"]

log = logging.getLogger("devkit.sync_thread")

#: Calls of one method measured on the thread before it may run inline.
PROBATION = 16
#: Seconds every probation call must stay under.
INLINE_BELOW = 0.0005
#: Seconds after which an inline call sends its method back to the thread for good.
DEMOTE_ABOVE = 0.002


class _Record:
    """How one method's calls have behaved."""

    __slots__ = ("demoted", "inline", "quick_calls")

    def __init__(self) -> None:
        self.quick_calls = 0
        self.inline = False
        self.demoted = False

    def measured(self, seconds: float) -> None:
        if self.demoted:
            return
        if self.inline:
            if seconds > DEMOTE_ABOVE:
                self.inline, self.demoted = False, True
            return
        if seconds >= INLINE_BELOW:
            self.quick_calls = 0  # probation starts over (first calls are often slow: warm-up)
            return
        self.quick_calls += 1
        self.inline = self.quick_calls >= PROBATION


T = TypeVar("T")

_Job = tuple[
    asyncio.AbstractEventLoop,
    "asyncio.Future[Any]",
    Callable[[], Any],
    "_Record | None",
    "SyncThread",
    str | None,
    float | None,
]


def _settle(
    future: asyncio.Future[Any],
    ok: bool,
    value: Any,
    record: _Record | None,
    seconds: float,
    owner: SyncThread,
) -> None:
    """Runs on the loop: resolve ``future`` unless its waiter was cancelled meanwhile."""
    owner._pending -= 1
    if record is not None:
        record.measured(seconds)
    if future.done():
        return
    if ok:
        future.set_result(value)
        return
    try:
        future.set_exception(value)
    except TypeError:  # StopIteration cannot be set on a future; don't leave the waiter hanging
        future.set_exception(RuntimeError(f"the call raised {value!r}"))


class SyncThread:
    """Runs ``fn()`` on a single daemon thread started on first use; ``await run(fn)``."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._pending = 0  # submitted, not yet settled (touched on the loop only)
        self._records: dict[str, _Record] = {}
        #: queued calls skipped because nobody waited for them any more (read it on the loop)
        self.skipped = 0

    def run(
        self, fn: Callable[[], T], key: str | None = None, deadline: float | None = None
    ) -> asyncio.Future[T]:
        """Run ``fn`` on the thread (or inline, once ``key``'s calls proved quick); await the result.

        The call is skipped if, when its turn comes, its future was cancelled or
        ``deadline`` (a :func:`time.monotonic` value) has passed.
        """
        if self._closed:
            raise RuntimeError(f"{self._name} is shut down")
        record = None if key is None else self._records.setdefault(key, _Record())
        if record is not None and record.inline and self._pending == 0:
            return self._run_inline(fn, record)
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                    self._thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending += 1
        self._jobs.put((loop, future, fn, record, self, key, deadline))
        return future

    @staticmethod
    def _run_inline(fn: Callable[[], T], record: _Record) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        try:
            future.set_result(fn())
        except Exception as exc:
            future.set_exception(exc)
        record.measured(time.perf_counter() - started)
        return future

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, fn, record, owner, key, deadline = job
            if future.cancelled() or (deadline is not None and time.monotonic() > deadline):
                self._skip(loop, future, key)
                del job, future, fn
                continue
            started = time.perf_counter()
            try:
                ok, value = True, fn()
            except BaseException as exc:  # handed to the awaiting coroutine, as an executor would
                ok, value = False, exc
            seconds = time.perf_counter() - started
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, future, ok, value, record, seconds, owner)
            del job, future, fn, value

    @property
    def open(self) -> bool:
        """Whether calls are still accepted (until :meth:`shutdown`)."""
        return not self._closed

    def _skip(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], key: str | None) -> None:
        self.skipped += 1  # only this thread writes it
        log.info(
            "%s: skipped a queued call%s: its client gave up (deadline passed or call cancelled) "
            "before its turn; %d skipped so far",
            self._name,
            f" of {key}" if key else "",
            self.skipped,
        )
        error = TimeoutError("the request's deadline passed before its turn")
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, future, False, error, None, 0.0, self)

    def shutdown(self) -> None:
        """Finish the calls already submitted, then stop the thread."""
        self._closed = True
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
