"""Spans around jina's data RPCs, with W3C ``traceparent`` carried in gRPC metadata.

The server interceptor continues the caller's trace (a jina peer's too: it reads and writes
the same header); the client interceptors open a CLIENT span per call and inject its
context. Only data RPCs are traced: health checks and endpoint discovery would bury the
request's tree. Span names are the RPC paths, as in jina (``/jina.JinaRPC/Call``, ...).
"""

from __future__ import annotations

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
                with span() as current:
                    async for response in inner_ss(requests, context):
                        mark_response(current, response)
                        yield response

            return grpc.stream_stream_rpc_method_handler(
                stream_stream, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            inner_us = handler.unary_stream

            async def unary_stream(request: Any, context: Any) -> AsyncIterator[Any]:
                with span():
                    async for response in inner_us(request, context):
                        yield response

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, handler.request_deserializer, handler.response_serializer
            )
        return handler


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

        def end(_: Any = None) -> None:
            nonlocal ended
            if not ended:
                ended = True
                span.end()

        # a caller that stops reading (an error answer raised) cancels the call: the span
        # ends then, even though the generator below is never finished
        call.add_done_callback(end)

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

        return answers()


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
