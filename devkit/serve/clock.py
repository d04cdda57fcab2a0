"""The time dynamic batching waits on, injectable so tests can drive it without sleeping.

A :class:`Clock` tells the time and calls back on an event loop once a time is reached.
Servers use :class:`SystemClock`; a test swaps in a
:class:`~devkit.testing.clock.ManualClock` with :func:`use_clock` (the ``batch_clock``
fixture does this) and moves time forward by hand. The swap covers Executors served in this
process (the thread runtime): a child process keeps the system clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Protocol

__all__ = ["Clock", "SystemClock", "Timer", "current_clock", "use_clock"]


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic seconds, and callbacks at a given time."""

    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None], loop: asyncio.AbstractEventLoop) -> Timer:
        """Run ``callback`` on ``loop`` once ``now() >= when``; called from ``loop``'s thread."""
        ...


class SystemClock:
    """Real time: :func:`time.monotonic` and the loop's own timers."""

    def now(self) -> float:
        return time.monotonic()

    def call_at(self, when: float, callback: Callable[[], None], loop: asyncio.AbstractEventLoop) -> Timer:
        return loop.call_later(max(0.0, when - time.monotonic()), callback)


_current: Clock = SystemClock()


def current_clock() -> Clock:
    """The clock a server built now will batch with."""
    return _current


@contextlib.contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Servers started inside the block (in this process) batch on ``clock``."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
