"""A clock that moves only when the test says so, for testing dynamic batching without sleeping."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

__all__ = ["ManualClock"]


class _ManualTimer:
    __slots__ = ("callback", "clock", "loop", "when")

    def __init__(
        self, clock: ManualClock, when: float, callback: Callable[[], None], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.clock, self.when, self.callback, self.loop = clock, when, callback, loop

    def cancel(self) -> None:
        self.clock._disarm(self)


class ManualClock:
    """Time stands still until :meth:`advance`; thread-safe, as servers run on their own loops.

    A batching queue arms one timer while it holds requests (for its oldest one), so
    :meth:`wait_armed` tells the test that its requests are queued and waiting for time.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[_ManualTimer] = []
        self._changed = threading.Condition()

    def now(self) -> float:
        with self._changed:
            return self._now

    def call_at(
        self, when: float, callback: Callable[[], None], loop: asyncio.AbstractEventLoop
    ) -> _ManualTimer:
        timer = _ManualTimer(self, when, callback, loop)
        with self._changed:
            if when <= self._now:
                loop.call_soon_threadsafe(callback)
            else:
                self._timers.append(timer)
                self._changed.notify_all()
        return timer

    def _disarm(self, timer: _ManualTimer) -> None:
        with self._changed:
            if timer in self._timers:
                self._timers.remove(timer)
                self._changed.notify_all()

    @property
    def armed(self) -> int:
        """Timers waiting for time to pass (one per batching queue holding requests)."""
        with self._changed:
            return len(self._timers)

    def advance(self, ms: float) -> None:
        """Move time forward ``ms`` milliseconds and fire every timer now due (on its loop)."""
        with self._changed:
            self._now += ms / 1000.0
            due = [timer for timer in self._timers if timer.when <= self._now]
            self._timers = [timer for timer in self._timers if timer.when > self._now]
            self._changed.notify_all()
        for timer in due:
            if not timer.loop.is_closed():
                timer.loop.call_soon_threadsafe(timer.callback)

    def wait_armed(self, count: int = 1, timeout: float = 20.0) -> None:
        """Block until exactly ``count`` timers are armed; raise ``TimeoutError`` after ``timeout`` s."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._timers) == count, timeout):
                raise TimeoutError(
                    f"ManualClock: {len(self._timers)} batching timers armed after {timeout:g} s, "
                    f"expected {count}; did the requests reach a batched endpoint on the thread runtime?"
                )
