"""Answering a bidirectional stream of requests concurrently, each exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

__all__ = ["answer_stream"]

Req = TypeVar("Req")
Resp = TypeVar("Resp")

_END = object()


async def answer_stream(
    requests: AsyncIterator[Req], handle: Callable[[Req], Awaitable[Resp]]
) -> AsyncIterator[Resp]:
    """Handle every request as it arrives and yield each answer as soon as it is ready.

    Answers come back in completion order (the client restores order if asked).
    ``handle`` must not raise; if the stream is cancelled, pending handlers are cancelled.
    """
    answers: asyncio.Queue[object] = asyncio.Queue()
    tasks: set[asyncio.Task[None]] = set()

    async def run(request: Req) -> None:
        answers.put_nowait(await handle(request))

    async def read() -> None:
        try:
            async for request in requests:
                task = asyncio.create_task(run(request))
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
