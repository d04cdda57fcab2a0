"""Answering a bidirectional stream of requests concurrently, each exactly once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["answer_stream", "stream_options"]

Req = TypeVar("Req")
Resp = TypeVar("Resp")

_END = object()

#: Invocation metadata by which jina's client asks a ``Call`` stream for ordered answers
#: and for a limit on the requests in flight (jina's gateway honours both).
RESULTS_IN_ORDER_KEY = "__results_in_order__"
PREFETCH_KEY = "__prefetch__"


def stream_options(context: Any) -> dict[str, Any]:
    """``answer_stream`` keyword arguments asked for in a call's invocation metadata."""
    options: dict[str, Any] = {}
    for key, value in (context.invocation_metadata() or ()) if context is not None else ():
        if key == RESULTS_IN_ORDER_KEY:
            options["in_order"] = value == "true"
        elif key == PREFETCH_KEY:
            with contextlib.suppress(ValueError):
                options["prefetch"] = max(0, int(value))
    return options


async def answer_stream(
    requests: AsyncIterator[Req],
    handle: Callable[[Req], Awaitable[Resp]],
    *,
    on_error: Callable[[Req, Exception], Resp],
    in_order: bool = False,
    prefetch: int = 0,
) -> AsyncIterator[Resp]:
    """Handle every request as it arrives and yield each answer as soon as it is ready.

    Answers come back in completion order, or in request order with ``in_order``;
    ``prefetch`` > 0 caps the requests handled at once. Whatever ``handle`` raises,
    ``on_error(request, exc)`` answers that request instead, so every request is answered
    exactly once and the stream goes on; if the stream is cancelled, pending handlers are.
    """
    answers: asyncio.Queue[object] = asyncio.Queue()
    tasks: set[asyncio.Task[None]] = set()
    window = asyncio.Semaphore(prefetch) if prefetch > 0 else None
    done: dict[int, Resp] = {}
    next_out = 0

    async def run(index: int, request: Req) -> None:
        nonlocal next_out
        try:
            answer = await handle(request)
        except Exception as exc:
            answer = on_error(request, exc)
        finally:
            if window is not None:
                window.release()
        if not in_order:
            answers.put_nowait(answer)
            return
        done[index] = answer
        while next_out in done:
            answers.put_nowait(done.pop(next_out))
            next_out += 1

    async def read() -> None:
        try:
            index = 0
            async for request in requests:
                if window is not None:
                    await window.acquire()
                task = asyncio.create_task(run(index, request))
                index += 1
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*list(tasks))
        finally:
            answers.put_nowait(_END)

    reader = asyncio.create_task(read())
    try:
        while True:
            item = await answers.get()
            if item is _END:
                break
            yield item  # type: ignore[misc]
        await reader  # surface a failure of the request stream itself
    finally:
        reader.cancel()
        for task in list(tasks):
            task.cancel()
