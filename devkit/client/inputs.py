"""Turning `post(inputs=...)` into batches of documents."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

from docarray import BaseDoc, DocList
from docarray.base_doc import AnyDoc

__all__ = [
    "batches",
    "is_replayable",
    "single_batch",
    "to_doclist",
]


@functools.cache
def _doclist_of(schema: type[BaseDoc]) -> type[DocList[Any]]:
    """``DocList[schema]``, which docarray rebuilds on every subscription (~6 us)."""
    return DocList[schema]  # type: ignore[valid-type]


def to_doclist(docs: list[Any]) -> DocList[Any]:
    if not docs:
        return DocList[AnyDoc]()
    first = type(docs[0])
    for doc in docs:
        if not isinstance(doc, BaseDoc):
            raise TypeError(
                f"inputs must be documents (BaseDoc instances), got {type(doc).__name__}: {doc!r}"
            )
    schema: type[BaseDoc] = first if all(type(doc) is first for doc in docs) else BaseDoc
    return _doclist_of(schema).construct(docs)  # types checked just above


def is_replayable(inputs: Any) -> bool:
    """Whether ``inputs`` can be iterated again (so a failed stream can be retried)."""
    return inputs is None or isinstance(inputs, (BaseDoc, DocList, list, tuple))


async def batches(inputs: Any, request_size: int) -> AsyncIterator[DocList[Any] | None]:
    """Yield DocLists of at most ``request_size`` documents; ``None`` once if there are no inputs."""
    if request_size < 1:
        raise ValueError(f"request_size must be >= 1, got {request_size}")
    if inputs is None:
        yield None
        return
    if callable(inputs) and not isinstance(inputs, BaseDoc):
        inputs = inputs()
    if isinstance(inputs, BaseDoc):
        yield to_doclist([inputs])
        return
    if isinstance(inputs, DocList) and len(inputs) <= request_size:
        yield inputs
        return
    batch: list[Any] = []
    if isinstance(inputs, AsyncIterable):
        async for doc in inputs:
            batch.append(doc)
            if len(batch) >= request_size:
                yield to_doclist(batch)
                batch = []
    elif isinstance(inputs, Iterable):
        for doc in inputs:
            batch.append(doc)
            if len(batch) >= request_size:
                yield to_doclist(batch)
                batch = []
    else:
        raise TypeError(
            f"inputs must be a document, a DocList, an iterable or a generator of documents, "
            f"got {type(inputs).__name__}"
        )
    if batch:
        yield to_doclist(batch)


def single_batch(inputs: Any) -> DocList[Any] | None:
    """The one batch of ``inputs`` already known to make a single request (see ``batches``)."""
    if inputs is None:
        return None
    if isinstance(inputs, BaseDoc):
        return to_doclist([inputs])
    if isinstance(inputs, DocList):
        return inputs
    return to_doclist(list(inputs))
