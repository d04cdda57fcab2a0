"""The progress bar ``Client(show_progress=True)`` draws on stderr while a post runs (rich)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import AsyncGenerator, Sized
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from docarray import BaseDoc
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from devkit.client.response import Response

__all__ = ["RequestProgress", "request_count", "with_progress"]


def request_count(inputs: Any, request_size: int) -> int | None:
    """How many requests ``inputs`` makes, when that is known before sending (None: a generator)."""
    if inputs is None or isinstance(inputs, BaseDoc):
        return 1
    if isinstance(inputs, Sized):
        return max(1, math.ceil(len(inputs) / max(1, request_size)))
    return None


#: seconds between redraws (the bar redraws from the responses, so it needs no thread of its own)
_REDRAW_EVERY = 0.1


class RequestProgress:
    """Counts answered requests and their documents; a context manager that always stops the bar."""

    def __init__(self, endpoint: str, total: int | None, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("requests, {task.fields[docs]} docs"),
            TimeElapsedColumn(),
            console=console or Console(file=sys.stderr),
            auto_refresh=False,
        )
        self._task = self._progress.add_task(f"Posting to {endpoint}", total=total, docs=0)
        self._docs = 0
        self._drawn = 0.0

    def advance(self, docs: int) -> None:
        self._docs += docs
        self._progress.update(self._task, advance=1, docs=self._docs)
        now = time.monotonic()
        if now - self._drawn >= _REDRAW_EVERY:
            self._drawn = now
            self._progress.refresh()

    def __enter__(self) -> RequestProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()


async def with_progress(
    responses: AsyncGenerator[Response, None], endpoint: str, total: int | None
) -> AsyncGenerator[Response, None]:
    """``responses``, advancing the bar by one request (and its documents) for each."""
    with RequestProgress(endpoint, total) as progress:
        async with aclosing(responses):
            async for response in responses:
                progress.advance(0 if response.is_error() else len(response.docs))
                yield response
