"""answer_stream's options, as jina's client asks for them in a Call's metadata."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from devkit.serve.streaming import answer_stream, stream_options


class FakeContext:
    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata


async def numbers(count: int) -> AsyncIterator[int]:
    for number in range(count):
        yield number


def last_first(count: int) -> Callable[[int], Awaitable[int]]:
    """A handler under which request n finishes only after request n + 1: completion order
    is the reverse of request order, by construction rather than by timing."""
    finished = [asyncio.Event() for _ in range(count)]

    async def handle(number: int) -> int:
        if number + 1 < count:
            await finished[number + 1].wait()
        finished[number].set()
        return number

    return handle


def unexpected(number: int, exc: Exception) -> int:
    raise AssertionError(f"request {number} raised {exc!r}")


def collect(count: int, **options: Any) -> list[int]:
    async def run() -> list[int]:
        return [
            answer
            async for answer in answer_stream(
                numbers(count), last_first(count), on_error=unexpected, **options
            )
        ]

    return asyncio.run(run())


def test_stream_options_read_jina_metadata() -> None:
    context = FakeContext((("__results_in_order__", "true"), ("__prefetch__", "3"), ("other", "x")))
    assert stream_options(context) == {"in_order": True, "prefetch": 3}
    assert stream_options(FakeContext((("__prefetch__", "many"),))) == {}
    assert stream_options(None) == {}


def test_answers_come_in_completion_order_by_default() -> None:
    assert collect(20) == list(reversed(range(20)))


def test_in_order_restores_request_order() -> None:
    assert collect(20, in_order=True) == list(range(20))


@pytest.mark.parametrize("prefetch", [1, 3])
def test_prefetch_caps_requests_in_flight(prefetch: int) -> None:
    in_flight = 0
    peak = 0

    async def handle(number: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1
        return number

    async def run() -> list[int]:
        return [
            answer
            async for answer in answer_stream(numbers(12), handle, on_error=unexpected, prefetch=prefetch)
        ]

    assert sorted(asyncio.run(run())) == list(range(12))
    assert peak == prefetch


@pytest.mark.parametrize("in_order", [False, True])
def test_a_handler_that_raises_still_answers_its_request_once_and_the_stream_goes_on(in_order: bool) -> None:
    async def fails_on_odd(number: int) -> str:
        await asyncio.sleep(0.001 * (number % 3))
        if number % 2:
            raise ValueError(f"odd {number}")
        return f"ok {number}"

    def as_error(number: int, exc: Exception) -> str:
        return f"error {number}: {exc}"

    async def run() -> list[str]:
        stream = answer_stream(numbers(10), fails_on_odd, on_error=as_error, in_order=in_order)
        return [answer async for answer in stream]

    answers = asyncio.run(run())
    expected = [f"error {n}: odd {n}" if n % 2 else f"ok {n}" for n in range(10)]
    assert (answers if in_order else sorted(answers, key=lambda a: int(a.split()[1].rstrip(":")))) == expected
