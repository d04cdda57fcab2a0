"""jina's client retry helper (``jina.clients.base.retry``) over devkit's one policy."""

from __future__ import annotations

from devkit.retry import RetryPolicy

__all__ = ["RetryPolicy", "wait_or_raise_err"]


async def wait_or_raise_err(
    attempt: int,
    err: BaseException,
    max_attempts: float,
    backoff_multiplier: float,
    initial_backoff: float,
    max_backoff: float,
) -> None:
    """Sleep before retry ``attempt + 1``, or re-raise ``err`` when attempts are used up."""
    policy = RetryPolicy(int(max_attempts), initial_backoff, max_backoff, backoff_multiplier)
    await policy.wait_or_raise(attempt, err, lambda _: True)
