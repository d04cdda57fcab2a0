"""Spans around jina's data RPCs, with W3C ``traceparent`` carried in gRPC metadata.

The server interceptor continues the caller's trace (a jina peer's too: it reads and writes
the same header); the client interceptors open a CLIENT span per call and inject its
context. Only data RPCs are traced: health checks and endpoint discovery would bury the
request's tree. Span names are the RPC paths, as in jina (``/jina.JinaRPC/Call``, ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from devkit.proto import jina_pb2

__all__ = [
    "TRACED_METHODS",
    "TracingServerInterceptor",
    "aio_client_interceptors",
    "mark_response",
]

#: the RPCs that carry requests; each gets a span on both sides of every hop
TRACED_METHODS = frozenset(
    {
        "/jina.JinaRPC/Call",
        "/jina.JinaSingleDataRequestRPC/process_single_data",
        "/jina.JinaDataRequestRPC/process_data",
        "/jina.JinaSingleDocumentRequestRPC/stream_doc",
    }
)


def _method(details: Any) -> str:
    method = details.method
    return method.decode() if isinstance(method, bytes) else str(method)


def _attributes(method: str) -> dict[str, str]:
    service, _, name = method.strip("/").partition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}


def mark_response(span: trace.Span, response: Any) -> None:
    """A request answered with an error status (devkit answers errors in-band) marks the span."""
    header = getattr(response, "header", None)
    if header is not None and header.status.code == jina_pb2.StatusProto.ERROR:
        exception = header.status.exception
        span.set_status(Status(StatusCode.ERROR, header.status.description or exception.name))
        if exception.executor:
            span.set_attribute("jina.executor", exception.executor)


class TracingServerInterceptor(grpc.aio.ServerInterceptor):
    """A SERVER span per data RPC, the child of the caller's span when it sent one."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method = _method(handler_call_details)
        if handler is None or method not in TRACED_METHODS:
            return handler
        carrier = {key: value for key, value in (handler_call_details.invocation_metadata or ())}
        parent = propagate.extract(carrier)
        tracer = self.tracer
        attributes = _attributes(method)

        def span() -> Any:
            return tracer.start_as_current_span(
                method, context=parent, kind=SpanKind.SERVER, attributes=attributes
            )

        if handler.unary_unary is not None:
            inner_uu = handler.unary_unary

            async def unary_unary(request: Any, context: Any) -> Any:
                with span() as current:
                    response = await inner_uu(request, context)
                    mark_response(current, response)
                    return response

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, handler.request_deserializer, handler.response_serializer
            )

        if handler.stream_stream is not None:
            inner_ss = handler.stream_stream

            async def stream_stream(requests: Any, context: Any) -> AsyncIterator[Any]:
                answers = inner_ss(requests, context)
                async for response in _served(tracer, method, parent, attributes, answers, context, True):
                    yield response

            return grpc.stream_stream_rpc_method_handler(
                stream_stream, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            inner_us = handler.unary_stream

            async def unary_stream(request: Any, context: Any) -> AsyncIterator[Any]:
                answers = inner_us(request, context)
                async for response in _served(tracer, method, parent, attributes, answers, context, False):
                    yield response

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, handler.request_deserializer, handler.response_serializer
            )
        return handler


async def _served(
    tracer: trace.Tracer,
    method: str,
    parent: otel_context.Context,
    attributes: dict[str, str],
    answers: AsyncIterator[Any],
    context: Any,
    mark: bool,
) -> AsyncIterator[Any]:
    """A streaming RPC's answers in its SERVER span, which ends when the RPC does.

    The span is made current for the rest of the RPC's own task (grpc runs each RPC in one)
    and never detached: a caller that stops reading cancels the RPC, and the abandoned
    generator is then closed from another task, where detaching would fail.
    """
    span = tracer.start_span(method, context=parent, kind=SpanKind.SERVER, attributes=attributes)
    otel_context.attach(trace.set_span_in_context(span, parent))
    ended = False

    def end(_: Any = None) -> None:
        nonlocal ended
        if not ended:
            ended = True
            span.end()

    context.add_done_callback(end)
    try:
        async for response in answers:
            if mark:
                mark_response(span, response)
            yield response
    except (GeneratorExit, asyncio.CancelledError):  # the caller hung up: not the handler's error
        raise
    except BaseException as exc:
        if not ended:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        end()


def _inject(metadata: Iterable[tuple[str, Any]] | None, ctx: otel_context.Context) -> list[tuple[str, Any]]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=ctx)
    return [*(metadata or ()), *carrier.items()]


class _AioUnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, tracer: trace.Tracer, peer: str | None = None) -> None:
        self.tracer = tracer
        self.peer = {"peer.service": peer} if peer else {}

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        method = _method(client_call_details)
        if method not in TRACED_METHODS:
            return await continuation(client_call_details, request)
        with self.tracer.start_as_current_span(
            method, kind=SpanKind.CLIENT, attributes={**_attributes(method), **self.peer}
        ) as span:
            metadata = grpc.aio.Metadata(*_inject(client_call_details.metadata, otel_context.get_current()))
            call = await continuation(client_call_details._replace(metadata=metadata), request)
            response = await call
            mark_response(span, response)
            return response


class _AioStreaming:
    """CLIENT span for calls whose answers stream: it ends when the last answer arrived."""

    def __init__(self, tracer: trace.Tracer, peer: str | None = None) -> None:
        self.tracer = tracer
        self.peer = {"peer.service": peer} if peer else {}

    async def _intercept(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        method = _method(client_call_details)
        if method not in TRACED_METHODS:
            return await continuation(client_call_details, request)
        span = self.tracer.start_span(
            method, kind=SpanKind.CLIENT, attributes={**_attributes(method), **self.peer}
        )
        ctx = trace.set_span_in_context(span)
        metadata = grpc.aio.Metadata(*_inject(client_call_details.metadata, ctx))
        try:
            call = await continuation(client_call_details._replace(metadata=metadata), request)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, repr(exc)))
            span.end()
            raise

        ended = False

        def end() -> None:
            nonlocal ended
            if not ended:
                ended = True
                span.end()

        def on_done(done: Any) -> None:
            # only a cancelled call ends here: one that finished may still hold answers the
            # caller has not read (its status can arrive before them), and reading marks the span
            if done.cancelled():
                end()

        call.add_done_callback(on_done)

        async def answers() -> AsyncIterator[Any]:
            try:
                async for response in call:
                    mark_response(span, response)
                    yield response
            except GeneratorExit:  # the caller stopped reading: not an error of the call
                raise
            except BaseException as exc:
                if not ended:  # a cancelled call already ended the span (and said why)
                    span.record_exception(exc)
                    span.set_status(Status(StatusCode.ERROR, repr(exc)))
                raise
            finally:
                end()

        # a caller that stops reading (an error answer raised) cancels the call it holds: the
        # span ends then, even though the generator above is never finished
        return _SpanEndingCall(call, answers(), end)


class _SpanEndingCall(grpc.aio.StreamStreamCall, grpc.aio.UnaryStreamCall):
    """The call a traced streaming caller holds: its answers are read through the span, and
    cancelling it ends the span. grpc hands an interceptor's Call object to the caller as
    it is (a bare iterator would be wrapped, and cancelling would bypass the span)."""

    def __init__(self, call: Any, answers: AsyncIterator[Any], end: Callable[[], None]) -> None:
        self._call = call
        self._answers = answers
        self._end = end

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._answers

    def cancel(self) -> bool:
        cancelled = bool(self._call.cancel())
        self._end()
        return cancelled

    def cancelled(self) -> bool:
        return bool(self._call.cancelled())

    def done(self) -> bool:
        return bool(self._call.done())

    def add_done_callback(self, callback: Any) -> None:
        self._call.add_done_callback(callback)

    def time_remaining(self) -> float | None:
        return self._call.time_remaining()

    async def initial_metadata(self) -> Any:
        return await self._call.initial_metadata()

    async def trailing_metadata(self) -> Any:
        return await self._call.trailing_metadata()

    async def code(self) -> Any:
        return await self._call.code()

    async def details(self) -> Any:
        return await self._call.details()

    async def wait_for_connection(self) -> None:
        await self._call.wait_for_connection()

    async def read(self) -> Any:
        return await self._call.read()

    async def write(self, request: Any) -> None:
        await self._call.write(request)

    async def done_writing(self) -> None:
        await self._call.done_writing()


class _AioStreamStream(_AioStreaming, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await self._intercept(continuation, client_call_details, request_iterator)


class _AioUnaryStream(_AioStreaming, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await self._intercept(continuation, client_call_details, request)


def aio_client_interceptors(tracer: trace.Tracer, peer: str | None = None) -> list[Any]:
    """Interceptors for a ``grpc.aio`` channel: every traced call gets a CLIENT span.

    ``peer``: the service the channel reaches (a gateway's hop: the Executor's name), recorded
    as ``peer.service`` so a hop that never reached its Executor still names it.
    """
    return [_AioUnaryUnary(tracer, peer), _AioStreamStream(tracer, peer), _AioUnaryStream(tracer, peer)]
