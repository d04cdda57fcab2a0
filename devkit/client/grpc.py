"""The gRPC transport of the client: one channel per client, stubs created once.

A channel that failed to connect (the server was down) waits out gRPC's reconnect backoff
before it dials again, failing every call meanwhile; each call first swaps such a channel
for a fresh one (:mod:`devkit.serve.redial`), so a restarted server is reached at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import grpc
from docarray import BaseDoc, DocList
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2

from devkit.client.address import Address
from devkit.client.response import Response
from devkit.client.transport import ConnectionSettings, OutgoingRequest, Transport
from devkit.errors import BadRequestError, DevkitError, ServerUnavailableError
from devkit.proto import jina_pb2
from devkit.serve.info import is_devkit_peer
from devkit.serve.redial import PRIVATE_POOL, Redial, blocking_channel_state
from devkit.serve.server import CHANNEL_OPTIONS
from devkit.wire import exception_from_status, new_request, new_request_id

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


def open_channel(address: Address, settings: ConnectionSettings, *, asynchronous: bool) -> Any:
    """The client's gRPC channel (asyncio or blocking): devkit's options, the user's on top.

    Its own subchannel pool, so a replacement does not inherit the old one's backoff."""
    options = list(
        {**dict(CHANNEL_OPTIONS), **dict([PRIVATE_POOL]), **(settings.grpc_channel_options or {})}.items()
    )
    if not asynchronous:
        if address.tls:
            return grpc.secure_channel(address.target, grpc.ssl_channel_credentials(), options=options)
        return grpc.insecure_channel(address.target, options=options)
    interceptors = list(settings.interceptors) or None  # tracing only; none costs nothing
    if address.tls:
        return grpc.aio.secure_channel(
            address.target, grpc.ssl_channel_credentials(), options=options, interceptors=interceptors
        )
    return grpc.aio.insecure_channel(address.target, options=options, interceptors=interceptors)


def call_metadata(settings: ConnectionSettings) -> Sequence[tuple[str, str]] | None:
    return tuple(settings.metadata.items()) or None


def _encode(request: OutgoingRequest, devkit_peer: bool) -> jina_pb2.DataRequestProto:
    return new_request(
        request.endpoint,
        request.docs,
        request.parameters,
        target_executor=request.target_executor,
        request_id=request.request_id,
        devkit_peer=devkit_peer,
    )


class GrpcTransport(Transport):
    """Calls the jina RPCs of one server. Create it inside the loop that will use it."""

    def __init__(self, address: Address, settings: ConnectionSettings) -> None:
        super().__init__(address, settings)
        self.metadata = call_metadata(settings)
        self._peer_is_devkit: bool | None = None
        self._redial = Redial()
        self._retired: set[asyncio.Task[None]] = set()
        self._open()

    def _open(self) -> None:
        self.channel = open_channel(self.address, self.settings, asynchronous=True)
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

    async def _fresh(self) -> None:
        """Swap a channel waiting out its reconnect backoff; the old one closes with a grace.

        A channel that entered the backoff within ``REOPEN_INTERVAL`` of the last swap is
        swapped once that interval is over, not used: its call would fail at once.
        """
        delay = self._redial.wait(self.channel.get_state())
        if delay:
            await asyncio.sleep(delay)
        if not self._redial.due(self.channel.get_state()):
            return
        old = self.channel
        self._open()
        task = asyncio.get_running_loop().create_task(old.close(grace=5.0))
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    # -- requests --------------------------------------------------------------------------
    async def send_one(
        self, request: OutgoingRequest, doclist_type: type[DocList[Any]], timeout: float | None
    ) -> Response:
        proto = _encode(request, self.known_devkit_peer)
        await self._fresh()
        reply = await self._single(proto, timeout=timeout, metadata=self.metadata)
        return Response(reply, doclist_type)

    async def send_stream(
        self,
        requests: AsyncIterator[OutgoingRequest],
        doclist_type: type[DocList[Any]],
        window: int,
        timeout: float | None,
    ) -> AsyncGenerator[Response, None]:
        devkit_peer = self.known_devkit_peer
        room = asyncio.Semaphore(window) if window > 0 else None

        async def protos() -> AsyncIterator[jina_pb2.DataRequestProto]:
            async for request in requests:
                if room is not None:
                    await room.acquire()
                yield _encode(request, devkit_peer)

        await self._fresh()
        call = self._call(protos(), timeout=timeout, metadata=self.metadata)
        try:
            async for reply in call:
                if room is not None:
                    room.release()
                yield Response(reply, doclist_type)
        finally:
            call.cancel()

    async def stream_doc(
        self, endpoint: str, doc: BaseDoc, schema: type[BaseDoc], timeout: float | None
    ) -> AsyncGenerator[BaseDoc, None]:
        request = jina_pb2.SingleDocumentRequestProto()
        request.header.request_id = new_request_id()
        request.header.exec_endpoint = endpoint
        request.document.CopyFrom(doc.to_protobuf())
        await self._fresh()
        async for reply in self._stream_doc(request, timeout=timeout, metadata=self.metadata):
            if reply.header.status.code == jina_pb2.StatusProto.ERROR:
                error = exception_from_status(jina_pb2.DataRequestProto(header=reply.header))
                assert error is not None
                raise error
            yield schema.from_protobuf(reply.document)

    # -- the peer --------------------------------------------------------------------------
    @property
    def known_devkit_peer(self) -> bool:
        """True once ``prepare`` found a devkit server (never asks by itself)."""
        return self._peer_is_devkit is True

    async def prepare(self) -> bool:
        """Whether the server is devkit (and so reads the fast document encoding). Asked once."""
        if self._peer_is_devkit is None:
            await self._fresh()
            try:
                info = await self._status(empty_pb2.Empty(), timeout=5.0, metadata=self.metadata)
                self._peer_is_devkit = is_devkit_peer(info)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    raise map_rpc_error(exc, self.address) from exc
                self._peer_is_devkit = False
        return self._peer_is_devkit

    async def is_ready(self, timeout: float = 3.0) -> bool:
        await self._fresh()
        try:
            reply = await self._health(
                health_pb2.HealthCheckRequest(), timeout=timeout, metadata=self.metadata
            )
        except grpc.aio.AioRpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    async def dry_run(self, timeout: float | None = None) -> bool:
        await self._fresh()
        try:
            status = await self._dry_run(empty_pb2.Empty(), timeout=timeout, metadata=self.metadata)
        except grpc.aio.AioRpcError as exc:
            raise map_rpc_error(exc, self.address) from exc
        return status.code == jina_pb2.StatusProto.SUCCESS

    async def info(self, timeout: float | None = 5.0) -> jina_pb2.JinaInfoProto:
        await self._fresh()
        return await self._status(empty_pb2.Empty(), timeout=timeout, metadata=self.metadata)

    async def endpoints(self, timeout: float | None = 5.0) -> jina_pb2.EndpointsProto:
        await self._fresh()
        return await self._discover(empty_pb2.Empty(), timeout=timeout, metadata=self.metadata)

    # -- failures --------------------------------------------------------------------------
    def is_transient(self, exc: BaseException) -> bool:
        return is_retryable(exc) or isinstance(exc, ServerUnavailableError)

    def map_error(self, exc: BaseException) -> BaseException:
        return map_rpc_error(exc, self.address) if isinstance(exc, grpc.RpcError) else exc

    async def close(self) -> None:
        await self.channel.close()
        await asyncio.gather(*self._retired, return_exceptions=True)


class SyncUnaryTransport:
    """A blocking ``process_single_data`` call on a synchronous channel.

    One 1-document ``Client.post`` to a devkit server spends most of its client-side time
    in the asyncio machinery; a blocking unary call from the caller's thread skips it.
    Thread-safe; the channel is opened once.
    """

    def __init__(self, address: Address, settings: ConnectionSettings):
        self._address = address
        self._settings = settings
        self.metadata = call_metadata(settings)
        self._redial = Redial()
        self._lock = threading.Lock()
        self._open()

    def _open(self) -> None:
        self.channel = open_channel(self._address, self._settings, asynchronous=False)
        self._single = self.channel.unary_unary(
            "/jina.JinaSingleDataRequestRPC/process_single_data",
            request_serializer=jina_pb2.DataRequestProto.SerializeToString,
            response_deserializer=jina_pb2.DataRequestProto.FromString,
        )

    def _fresh(self) -> None:
        """Swap a channel waiting out its reconnect backoff. Closing the old one cannot cut
        a call short: in that state every call on it fails at once. A healthy channel (every
        call but those after a failed dial) is let through without taking the lock."""
        if blocking_channel_state(self.channel) is not grpc.ChannelConnectivity.TRANSIENT_FAILURE:
            return
        with self._lock:
            delay = self._redial.wait(blocking_channel_state(self.channel))
            if delay:
                time.sleep(delay)  # at most REOPEN_INTERVAL; other callers wait for this swap
            if not self._redial.due(blocking_channel_state(self.channel)):
                return
            old = self.channel
            self._open()
        old.close()

    def send_one(self, request: OutgoingRequest, timeout: float | None) -> jina_pb2.DataRequestProto:
        """One request to a devkit peer (documents in the fast encoding)."""
        self._fresh()
        return self._single(_encode(request, True), timeout=timeout, metadata=self.metadata)

    def close(self) -> None:
        self.channel.close()
