"""Client-side retries of transient connectivity errors with randomised exponential backoff."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

__all__ = ["RetryPolicy", "wait_or_raise_err"]


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` counts the first try; the n-th retry waits
    ``random(0, min(initial_backoff * backoff_multiplier**(n-1), max_backoff))`` seconds."""

    max_attempts: int = 1
    initial_backoff: float = 0.5
    max_backoff: float = 2.0
    backoff_multiplier: float = 1.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts counts the first try and must be >= 1, got {self.max_attempts}")

    def delay(self, retry: int) -> float:
        return random.uniform(
            0, min(self.initial_backoff * self.backoff_multiplier ** (retry - 1), self.max_backoff)
        )


async def wait_or_raise_err(
    attempt: int,
    err: BaseException,
    max_attempts: float,
    backoff_multiplier: float,
    initial_backoff: float,
    max_backoff: float,
) -> None:
    """Sleep before retry ``attempt + 1``, or re-raise ``err`` when attempts are used up."""
    if attempt >= max_attempts:
        raise err
    policy = RetryPolicy(int(max_attempts), initial_backoff, max_backoff, backoff_multiplier)
    await asyncio.sleep(policy.delay(attempt))
