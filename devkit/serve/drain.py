"""Admitting calls while serving, refusing them while stopping, and waiting for the accepted.

grpc's own ``server.stop(grace)`` refuses new calls at the transport, so a health check
during the grace fails to connect instead of answering NOT_SERVING, and when the grace runs
out it cancels what is left while sync work queued for those calls may still run. So
devkit drains itself first: a :class:`Gate` wraps every jina method handler of a server;
once it closes, new calls are refused with UNAVAILABLE (health keeps answering, with
NOT_SERVING), and :meth:`Gate.drain` waits, up to the grace, until every accepted request
has been answered. Only then is the grpc server stopped.

A unary call is one request. A ``Call`` stream counts each request it has delivered to the
servicer until its answer is written; an accepted stream keeps delivering requests while
the server drains, and is ended once it has nothing in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc

__all__ = ["Gate", "GatedServer"]


class Gate:
    """Counts the requests in flight on one server and refuses new calls once closed."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.closed = False
        self.in_flight = 0
        self._tasks: set[asyncio.Task[Any]] = set()  # the handlers of accepted calls
        self._idle: asyncio.Event | None = None

    async def refuse(self, context: grpc.aio.ServicerContext) -> None:
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            f"{self.what} is shutting down and accepts no new requests; "
            "send them to another replica or once it is back",
        )

    def _enter(self) -> None:
        self.in_flight += 1

    def _leave(self, count: int = 1) -> None:
        self.in_flight -= count
        if self.in_flight == 0 and self._idle is not None:
            self._idle.set()

    async def drain(self, grace: float | None) -> int:
        """Close, then wait up to ``grace`` seconds (None: forever) for the accepted requests.

        Returns how many are still in flight (0 once drained); those are cancelled.
        """
        self.closed = True
        if self.in_flight:
            self._idle = asyncio.Event()
            try:
                await asyncio.wait_for(self._idle.wait(), grace)
            except TimeoutError:
                for task in list(self._tasks):
                    task.cancel()  # their queued sync work is skipped, not run after the answer is gone
        return self.in_flight

    # -- wrapping method handlers -----------------------------------------------------------
    def wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """``handler`` with the same behaviour, admitted and counted by this gate."""
        if handler.request_streaming and handler.response_streaming:
            return handler._replace(stream_stream=self._stream_stream(handler.stream_stream))
        if handler.response_streaming:
            return handler._replace(unary_stream=self._unary_stream(handler.unary_stream))
        if handler.request_streaming:
            return handler._replace(stream_unary=self._unary_unary(handler.stream_unary))
        return handler._replace(unary_unary=self._unary_unary(handler.unary_unary))

    def wrap_unary(self, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        """``behaviour(request, context)`` admitted and counted by this gate (in-process calls)."""
        return self._unary_unary(behaviour)

    def _admit(self) -> asyncio.Task[Any] | None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        return task

    def _discharge(self, task: asyncio.Task[Any] | None) -> None:
        if task is not None:
            self._tasks.discard(task)

    def _unary_unary(self, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        async def gated(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if self.closed:
                await self.refuse(context)
            task = self._admit()
            self._enter()
            try:
                return await behaviour(request, context)
            finally:
                self._discharge(task)
                self._leave()

        return gated

    def _unary_stream(self, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        async def gated(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if self.closed:
                await self.refuse(context)
            task = self._admit()
            self._enter()
            try:
                async for reply in behaviour(request, context):
                    yield reply
            finally:
                self._discharge(task)
                self._leave()

        return gated

    def _stream_stream(self, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        async def gated(
            requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            if self.closed:
                await self.refuse(context)
            task = self._admit()
            pending = 0  # requests of this stream delivered and not yet answered

            async def counted() -> AsyncIterator[Any]:
                nonlocal pending
                async for request in requests:
                    pending += 1
                    self._enter()
                    yield request

            try:
                async for reply in behaviour(counted(), context):
                    yield reply
                    pending -= 1
                    self._leave()
            finally:
                self._discharge(task)
                if pending:
                    self._leave(pending)

        return gated


class _GatedGenericHandler(grpc.GenericRpcHandler):
    """A generic handler whose method handlers pass through ``gate`` (wrapped once per method)."""

    def __init__(self, inner: grpc.GenericRpcHandler, gate: Gate) -> None:
        self._inner = inner
        self._gate = gate
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = self._inner.service(handler_call_details)
            if handler is None:
                return None
            wrapped = self._wrapped[method] = self._gate.wrap(handler)
        return wrapped


class GatedServer:
    """What a servicer's ``register`` is given: a grpc server whose handlers pass the gate.

    Servicers register as they would on a plain ``grpc.aio.Server``; health and reflection
    are added to the real server and stay outside the gate.
    """

    def __init__(self, server: grpc.aio.Server, gate: Gate) -> None:
        self._server = server
        self._gate = gate

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_GatedGenericHandler(handler, self._gate) for handler in handlers)
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)
