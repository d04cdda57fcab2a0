"""What every ``post`` shares, whichever way it sends: its options, and what happens to
each response (observers, callbacks, errors, order)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from docarray import BaseDoc, DocList

from devkit.client.response import Response
from devkit.documents import UntypedDoc
from devkit.retry import RetryPolicy
from devkit.target import compile_target_executor
from devkit.wire import doclist_class, exception_from_status

__all__ = ["Callback", "PostOptions", "deliver", "doclist_type_of", "in_order", "makes_one_request"]

log = logging.getLogger("devkit.client")

Callback = Callable[[Response], Any]


def doclist_type_of(return_type: Any) -> type[DocList[Any]]:
    if return_type is None:
        return DocList[UntypedDoc]
    if doclist_class(return_type) is not None:
        return return_type
    if isinstance(return_type, type) and issubclass(return_type, BaseDoc):
        return DocList[return_type]
    raise TypeError(f"return_type must be a BaseDoc subclass or DocList[...], got {return_type!r}")


@dataclass(frozen=True)
class PostOptions:
    """The keyword options of ``post``, checked once (an unknown name is a TypeError)."""

    return_type: Any = None
    request_size: int = 100
    on_done: Callback | None = None
    on_error: Callback | None = None
    on_always: Callback | None = None
    continue_on_error: bool = False
    prefetch: int | None = None
    timeout: float | None = None
    results_in_order: bool = False
    stream: bool = True
    return_responses: bool = False
    target_executor: str | None = None
    max_attempts: int = 1
    initial_backoff: float = 0.5
    max_backoff: float = 2.0
    backoff_multiplier: float = 1.5
    show_progress: bool = False

    def __post_init__(self) -> None:
        compile_target_executor(self.target_executor)  # an invalid regex is refused before sending

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(self.max_attempts, self.initial_backoff, self.max_backoff, self.backoff_multiplier)

    @property
    def has_callback(self) -> bool:
        return any(callback is not None for callback in (self.on_done, self.on_error, self.on_always))


def deliver(
    response: Response,
    observers: list[Callback],
    on_done: Callback | None,
    on_error: Callback | None,
    on_always: Callback | None,
    continue_on_error: bool,
) -> bool:
    """Show one response to observers and callbacks; True when it carries no error.

    An error is raised here unless ``on_error`` takes it or ``continue_on_error`` is set.
    """
    for observe in observers:
        observe(response)
    error = exception_from_status(response.proto)
    if error is not None:
        if on_error is not None:
            on_error(response)
        elif not continue_on_error:
            if on_always is not None:
                on_always(response)
            raise error
        else:
            log.warning("%s (continuing: continue_on_error=True)", error.args[0])
    elif on_done is not None:
        on_done(response)
    if on_always is not None:
        on_always(response)
    return error is None


def makes_one_request(inputs: Any, request_size: int) -> bool:
    """Whether :func:`batches` turns ``inputs`` into exactly one request."""
    if inputs is None or isinstance(inputs, BaseDoc):
        return True
    if isinstance(inputs, DocList):
        return len(inputs) <= request_size
    return isinstance(inputs, (list, tuple)) and 0 < len(inputs) <= request_size


async def in_order(
    responses: AsyncGenerator[Response, None], order: dict[str, int]
) -> AsyncGenerator[Response, None]:
    """Re-order responses to the order their requests were sent."""
    waiting: dict[int, Response] = {}
    next_index = 0
    async with aclosing(responses):
        async for response in responses:
            waiting[order.get(response.header.request_id, next_index)] = response
            while next_index in waiting:
                yield waiting.pop(next_index)
                next_index += 1
    for index in sorted(waiting):
        yield waiting[index]
