"""The gRPC transport of the client: one channel per client, stubs created once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2

from devkit.client.address import Address
from devkit.errors import BadRequestError, DevkitError, ServerUnavailableError
from devkit.proto import jina_pb2
from devkit.serve.info import is_devkit_peer
from devkit.serve.server import CHANNEL_OPTIONS

__all__ = ["GrpcTransport", "SyncUnaryTransport", "is_retryable", "map_rpc_error"]

_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)


def map_rpc_error(exc: grpc.RpcError, address: Address) -> Exception:
    """Translate a gRPC failure into devkit's error for it, most specific first."""
    where = f"grpc{'s' if address.tls else ''}://{address.target}"
    code = exc.code()  # every grpc call error carries code/details
    if code == grpc.StatusCode.UNAVAILABLE:
        return ServerUnavailableError(f"cannot reach the server at {where}: {exc.details()}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return TimeoutError(f"no answer from {where} before the timeout: {exc.details()}")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return BadRequestError(f"{where} rejected the request: {exc.details()}")
    return DevkitError(f"{where} failed the call with {code.name}: {exc.details()}")


def is_retryable(exc: BaseException) -> bool:
    """A transient call error (sync or asyncio grpc) worth another attempt."""
    return isinstance(exc, grpc.RpcError) and getattr(exc, "code", lambda: None)() in _RETRYABLE


class GrpcTransport:
    """Calls the jina RPCs of one server. Create it inside the loop that will use it."""

    def __init__(
        self,
        address: Address,
        metadata: dict[str, str] | None = None,
        channel_options: dict[str, Any] | None = None,
    ) -> None:
        self.address = address
        options = dict(CHANNEL_OPTIONS)
        options.update(channel_options or {})
        if address.tls:
            self.channel = grpc.aio.secure_channel(
                address.target, grpc.ssl_channel_credentials(), options=list(options.items())
            )
        else:
            self.channel = grpc.aio.insecure_channel(address.target, options=list(options.items()))
        self.metadata: Sequence[tuple[str, str]] | None = tuple((metadata or {}).items()) or None
        data = jina_pb2.DataRequestProto
        self._call = self.channel.stream_stream(
            "/jina.JinaRPC/Call",
            request_serializer=data.SerializeToString,
            response_deserializer=data.FromString,
        )
        self._single = self.channel.unary_unary(
            "/jina.JinaSingleDataRequestRPC/process_single_data",
            request_serializer=data.SerializeToString,
            response_deserializer=data.FromString,
        )
        single_doc = jina_pb2.SingleDocumentRequestProto
        self._stream_doc = self.channel.unary_stream(
            "/jina.JinaSingleDocumentRequestRPC/stream_doc",
            request_serializer=single_doc.SerializeToString,
            response_deserializer=single_doc.FromString,
        )
        empty = empty_pb2.Empty.SerializeToString
        self._status = self.channel.unary_unary(
            "/jina.JinaInfoRPC/_status",
            request_serializer=empty,
            response_deserializer=jina_pb2.JinaInfoProto.FromString,
        )
        self._dry_run = self.channel.unary_unary(
            "/jina.JinaGatewayDryRunRPC/dry_run",
            request_serializer=empty,
            response_deserializer=jina_pb2.StatusProto.FromString,
        )
        self._discover = self.channel.unary_unary(
            "/jina.JinaDiscoverEndpointsRPC/endpoint_discovery",
            request_serializer=empty,
            response_deserializer=jina_pb2.EndpointsProto.FromString,
        )
        self._health = self.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        self._peer_is_devkit: bool | None = None

    def stream(
        self, requests: AsyncIterator[jina_pb2.DataRequestProto], timeout: float | None
    ) -> grpc.aio.StreamStreamCall:
        return self._call(requests, timeout=timeout, metadata=self.metadata)

    async def single(
        self, request: jina_pb2.DataRequestProto, timeout: float | None
    ) -> jina_pb2.DataRequestProto:
        return await self._single(request, timeout=timeout, metadata=self.metadata)

    def stream_doc(self, request: jina_pb2.SingleDocumentRequestProto, timeout: float | None) -> Any:
        return self._stream_doc(request, timeout=timeout, metadata=self.metadata)

    @property
    def known_devkit_peer(self) -> bool:
        """True once ``peer_is_devkit`` found a devkit server (never asks by itself)."""
        return self._peer_is_devkit is True

    async def peer_is_devkit(self) -> bool:
        """Whether the server is devkit (and so reads the fast document encoding). Asked once."""
        if self._peer_is_devkit is None:
            try:
                info = await self._status(empty_pb2.Empty(), timeout=5.0, metadata=self.metadata)
                self._peer_is_devkit = is_devkit_peer(info)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    raise map_rpc_error(exc, self.address) from exc
                self._peer_is_devkit = False
        return self._peer_is_devkit

    async def is_ready(self, timeout: float = 3.0) -> bool:
        try:
            reply = await self._health(
                health_pb2.HealthCheckRequest(), timeout=timeout, metadata=self.metadata
            )
        except grpc.aio.AioRpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    async def dry_run(self, timeout: float | None = None) -> bool:
        try:
            status = await self._dry_run(empty_pb2.Empty(), timeout=timeout, metadata=self.metadata)
        except grpc.aio.AioRpcError as exc:
            raise map_rpc_error(exc, self.address) from exc
        return status.code == jina_pb2.StatusProto.SUCCESS

    async def info(self, timeout: float | None = 5.0) -> jina_pb2.JinaInfoProto:
        return await self._status(empty_pb2.Empty(), timeout=timeout, metadata=self.metadata)

    async def endpoints(self, timeout: float | None = 5.0) -> jina_pb2.EndpointsProto:
        return await self._discover(empty_pb2.Empty(), timeout=timeout, metadata=self.metadata)

    async def close(self) -> None:
        await self.channel.close()


class SyncUnaryTransport:
    """A blocking ``process_single_data`` call on a synchronous channel.

    One 1-document ``Client.post`` to a devkit server spends most of its client-side time
    in the asyncio machinery; a blocking unary call from the caller's thread skips it.
    Thread-safe; the channel is opened once.
    """

    def __init__(
        self, address: Address, metadata: dict[str, str] | None, channel_options: dict[str, Any] | None
    ):
        options = dict(CHANNEL_OPTIONS)
        options.update(channel_options or {})
        if address.tls:
            self.channel = grpc.secure_channel(
                address.target, grpc.ssl_channel_credentials(), list(options.items())
            )
        else:
            self.channel = grpc.insecure_channel(address.target, list(options.items()))
        self.metadata: Sequence[tuple[str, str]] | None = tuple((metadata or {}).items()) or None
        self._single = self.channel.unary_unary(
            "/jina.JinaSingleDataRequestRPC/process_single_data",
            request_serializer=jina_pb2.DataRequestProto.SerializeToString,
            response_deserializer=jina_pb2.DataRequestProto.FromString,
        )

    def single(self, request: jina_pb2.DataRequestProto, timeout: float | None) -> jina_pb2.DataRequestProto:
        return self._single(request, timeout=timeout, metadata=self.metadata)

    def close(self) -> None:
        self.channel.close()
