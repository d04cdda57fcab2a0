"""One retry policy: how many attempts, how long to wait between them, and the loops that
apply it (async and blocking). The client uses it for every retried call; it has no
client or gRPC specifics, so the gateway's replica pool can adopt it as well."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["RetryPolicy"]

log = logging.getLogger("devkit.retry")

T = TypeVar("T")
Retryable = Callable[[BaseException], bool]


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` counts the first try; the n-th retry waits
    ``random(0, min(initial_backoff * backoff_multiplier**(n-1), max_backoff))`` seconds
    (the documented client backoff), or exactly that bound with ``jitter=False``."""

    max_attempts: int = 1
    initial_backoff: float = 0.5
    max_backoff: float = 2.0
    backoff_multiplier: float = 1.5
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts counts the first try and must be >= 1, got {self.max_attempts}")
        if self.initial_backoff < 0 or self.max_backoff < 0 or self.backoff_multiplier <= 0:
            raise ValueError(
                "initial_backoff and max_backoff must be >= 0 and backoff_multiplier > 0, got "
                f"{self.initial_backoff}, {self.max_backoff}, {self.backoff_multiplier}"
            )

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
        bound = min(self.initial_backoff * self.backoff_multiplier ** (retry - 1), self.max_backoff)
        return random.uniform(0, bound) if self.jitter else bound

    def gives_up(self, attempt: int, exc: BaseException, retryable: Retryable) -> bool:
        """Whether ``exc`` from attempt ``attempt`` (1-based) is final."""
        return attempt >= self.max_attempts or not retryable(exc)

    async def wait_or_raise(self, attempt: int, exc: BaseException, retryable: Retryable) -> None:
        """Sleep before the next attempt, or re-raise ``exc`` when it is final."""
        if self.gives_up(attempt, exc, retryable):
            raise exc
        delay = self.delay(attempt)
        log.debug("attempt %d/%d failed (%r); retrying in %.2f s", attempt, self.max_attempts, exc, delay)
        await asyncio.sleep(delay)

    async def run(self, call: Callable[[], Awaitable[T]], retryable: Retryable) -> T:
        """Await ``call()`` until it succeeds, fails for good, or attempts run out."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call()
            except Exception as exc:
                await self.wait_or_raise(attempt, exc, retryable)

    def run_blocking(self, call: Callable[[], T], retryable: Retryable) -> T:
        """:meth:`run` for a blocking ``call`` (sleeps in the calling thread)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return call()
            except Exception as exc:
                if self.gives_up(attempt, exc, retryable):
                    raise
                delay = self.delay(attempt)
                log.debug(
                    "attempt %d/%d failed (%r); retrying in %.2f s", attempt, self.max_attempts, exc, delay
                )
                time.sleep(delay)
