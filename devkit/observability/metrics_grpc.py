"""jina's request metrics measured at the gRPC boundary of gateways and workers.

The server interceptor times each data request from arrival to answer (per request, also
inside a ``Call`` stream), counts successes and failures and sizes what came and went; the
gateway's client interceptor times each hop to an Executor. Installed only when metrics or
monitoring is on.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from devkit.observability.grpc_tracing import TRACED_METHODS
from devkit.observability.metrics import Metrics
from devkit.proto import jina_pb2

__all__ = ["MetricsClientInterceptor", "MetricsServerInterceptor"]

_ERROR = jina_pb2.StatusProto.ERROR


def _size(message: Any) -> int:
    """Bytes on the wire: devkit's services receive raw bytes, answers are messages."""
    return len(message) if isinstance(message, (bytes, bytearray, memoryview)) else int(message.ByteSize())


def _request_id(request: Any) -> str:
    """The id that pairs a streamed request with its answer (parsing costs only with metrics on)."""
    if isinstance(request, (bytes, bytearray, memoryview)):
        parsed = jina_pb2.DataRequestProto()
        parsed.ParseFromString(bytes(request))
        return str(parsed.header.request_id)
    return str(request.header.request_id)


class MetricsServerInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: Metrics, pending: bool = False) -> None:
        self.metrics = metrics
        self.pending = pending  # gateways report jina_number_of_pending_requests

    def _received(self, request: Any) -> float:
        self.metrics.record("jina_received_request_bytes", _size(request))
        if self.pending:
            self.metrics.record("jina_number_of_pending_requests", 1)
        return time.perf_counter()

    def _answered(self, response: Any, began: float) -> None:
        record = self.metrics.record
        record("jina_receiving_request_seconds", time.perf_counter() - began)
        record("jina_sent_response_bytes", _size(response))
        failed = getattr(response, "header", None) is not None and response.header.status.code == _ERROR
        record("jina_failed_requests" if failed else "jina_successful_requests", 1)
        if self.pending:
            record("jina_number_of_pending_requests", -1)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method not in TRACED_METHODS or method.endswith("/stream_doc"):
            return handler
        if handler.unary_unary is not None:
            inner_uu = handler.unary_unary

            async def unary_unary(request: Any, context: Any) -> Any:
                began = self._received(request)
                response = await inner_uu(request, context)
                self._answered(response, began)
                return response

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_stream is not None:
            inner_ss = handler.stream_stream

            async def stream_stream(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
                started: dict[str, float] = {}

                async def counted() -> AsyncIterator[Any]:
                    async for request in requests:  # raw bytes: devkit's services parse them
                        started[_request_id(request)] = self._received(request)
                        yield request

                async for response in inner_ss(counted(), context):
                    began = started.pop(response.header.request_id, None)
                    if began is not None:
                        self._answered(response, began)
                    yield response

            return grpc.stream_stream_rpc_method_handler(
                stream_stream, handler.request_deserializer, handler.response_serializer
            )
        return handler


class MetricsClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """The gateway's hops to Executors: ``jina_sending_request_seconds`` and sizes."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        method = client_call_details.method
        method = method.decode() if isinstance(method, bytes) else method
        if method not in TRACED_METHODS:
            return await continuation(client_call_details, request)
        record = self.metrics.record
        record("jina_sent_request_bytes", _size(request))
        began = time.perf_counter()
        call = await continuation(client_call_details, request)
        response = await call
        record("jina_sending_request_seconds", time.perf_counter() - began)
        record("jina_received_response_bytes", _size(response))
        return response
