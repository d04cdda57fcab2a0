"""What a custom gateway calls Executors with: ``self.streamer`` and ``self.executor[name]``.

``stream_docs`` and ``stream`` send documents through the whole Flow (the same
:class:`GatewayCore` walk the built-in front-ends use); ``executor['name'].post`` calls one
Executor directly. Documents are read back as ``return_type``, or, without it, as the
endpoint's declared response schema.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, ClassVar

from docarray import BaseDoc, DocList
from docarray.base_doc import AnyDoc

from devkit.errors import ExecutorError
from devkit.serve.gateway.core import GatewayCore
from devkit.wire import doclist_class, exception_from_status, new_request, read_docs

__all__ = ["ExecutorStreamer", "Executors", "GatewayStreamer"]


def _as_doclist(docs: Any) -> DocList[Any]:
    if isinstance(docs, DocList):
        return docs
    if isinstance(docs, BaseDoc):
        return DocList[type(docs)]([docs])  # type: ignore[misc,operator]
    items = list(docs or [])
    schema = type(items[0]) if items and isinstance(items[0], BaseDoc) else AnyDoc
    return DocList[schema](items)  # type: ignore[valid-type]


def _batches(docs: DocList[Any], size: int) -> Iterator[DocList[Any]]:
    if len(docs) <= size:
        yield docs
        return
    for start in range(0, len(docs), size):
        yield docs[start : start + size]


class GatewayStreamer:
    """Sends documents through the Flow a custom gateway fronts."""

    _current: ClassVar[GatewayStreamer | None] = None

    def __init__(self, core: GatewayCore) -> None:
        self.core = core
        GatewayStreamer._current = self

    @staticmethod
    def get_streamer() -> GatewayStreamer:
        """The streamer of the gateway started last in this process (for code outside the class)."""
        if GatewayStreamer._current is None:
            raise RuntimeError("no gateway has started in this process yet")
        return GatewayStreamer._current

    def _return_type(self, endpoint: str, return_type: Any) -> type[DocList[Any]]:
        found = doclist_class(return_type) if return_type is not None else None
        if found is not None:
            return found
        if isinstance(return_type, type) and issubclass(return_type, BaseDoc):
            return DocList[return_type]
        from devkit.serve.gateway.http_schemas import endpoint_models

        models = endpoint_models(self.core.endpoint_schemas())
        schema = models[endpoint].output if endpoint in models else AnyDoc
        return DocList[schema]  # type: ignore[valid-type]

    async def stream(
        self,
        docs: Any,
        exec_endpoint: str = "/",
        *,
        parameters: Mapping[str, Any] | None = None,
        target_executor: str | None = None,
        request_size: int = 100,
        return_type: Any = None,
        request_id: str | None = None,
    ) -> AsyncIterator[tuple[DocList[Any], ExecutorError | None]]:
        """Yield ``(docs, error)`` per request of ``request_size`` documents; an Executor's error
        is returned, not raised (the documents are then the ones sent)."""
        out_type = self._return_type(exec_endpoint, return_type)
        for batch in _batches(_as_doclist(docs), max(1, request_size)):
            request = new_request(
                exec_endpoint, batch, parameters, target_executor=target_executor, request_id=request_id
            )
            response = await self.core.post(request)
            error = exception_from_status(response)
            if error is not None:
                yield read_docs(response, DocList[AnyDoc]), error
            else:
                yield read_docs(response, out_type), None

    async def stream_docs(
        self, docs: Any, exec_endpoint: str = "/", **kwargs: Any
    ) -> AsyncIterator[DocList[Any]]:
        """Yield the documents of each response; raise :class:`ExecutorError` on an error."""
        async for result, error in self.stream(docs, exec_endpoint, **kwargs):
            if error is not None:
                raise error
            yield result


class ExecutorStreamer:
    """One Executor of the Flow, called directly."""

    def __init__(self, core: GatewayCore, name: str) -> None:
        self.core = core
        self.name = name

    async def post(
        self,
        on: str,
        inputs: Any = None,
        parameters: Mapping[str, Any] | None = None,
        return_type: Any = None,
        **kwargs: Any,
    ) -> DocList[Any]:
        """Send ``inputs`` to endpoint ``on`` of this Executor; raise :class:`ExecutorError` on error."""
        node = self.core.nodes[self.name]
        request = new_request(on, _as_doclist(inputs), parameters)
        response = await node.send([request], on)
        error = exception_from_status(response)
        if error is not None:
            raise error
        out_type = doclist_class(return_type) or DocList[AnyDoc]
        return read_docs(response, out_type)


class Executors(Mapping[str, ExecutorStreamer]):
    """``self.executor['name']``: the Flow's Executors by name."""

    def __init__(self, core: GatewayCore) -> None:
        self._streamers = {name: ExecutorStreamer(core, name) for name in core.nodes}

    def __getitem__(self, name: str) -> ExecutorStreamer:
        try:
            return self._streamers[name]
        except KeyError:
            raise KeyError(
                f"no Executor {name!r} in this Flow; it has {', '.join(self._streamers)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._streamers)

    def __len__(self) -> int:
        return len(self._streamers)
