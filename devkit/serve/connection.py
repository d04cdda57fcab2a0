"""Channels from a gateway to the replicas of one Executor shard.

Channels are created once per replica (never per request). Requests go round-robin;
a replica that is unreachable (UNAVAILABLE) is skipped and the request retried on the next
one, with a short backoff, up to the retry budget.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from google.protobuf import empty_pb2

from devkit.proto import jina_pb2
from devkit.serve.server import CHANNEL_OPTIONS

__all__ = ["ExecutorUnavailableError", "ReplicaSet", "open_channel"]


class ExecutorUnavailableError(ConnectionError):
    """No replica of an Executor answered; names the Executor, addresses and gRPC cause."""

    def __init__(self, executor: str, detail: str, code: grpc.StatusCode | None = None) -> None:
        self.executor = executor
        self.code = code
        super().__init__(f"Executor {executor!r} could not be reached: {detail}")


def open_channel(address: str, *, tls: bool = False) -> grpc.aio.Channel:
    if tls:
        return grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(), options=CHANNEL_OPTIONS)
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


class _Replica:
    def __init__(self, address: str, tls: bool) -> None:
        self.address = address
        self.channel = open_channel(address, tls=tls)
        self.single = self.channel.unary_unary(
            "/jina.JinaSingleDataRequestRPC/process_single_data",
            request_serializer=jina_pb2.DataRequestProto.SerializeToString,
            response_deserializer=jina_pb2.DataRequestProto.FromString,
        )
        self.many = self.channel.unary_unary(
            "/jina.JinaDataRequestRPC/process_data",
            request_serializer=jina_pb2.DataRequestListProto.SerializeToString,
            response_deserializer=jina_pb2.DataRequestProto.FromString,
        )
        self.discover = self.channel.unary_unary(
            "/jina.JinaDiscoverEndpointsRPC/endpoint_discovery",
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=jina_pb2.EndpointsProto.FromString,
        )
        self.stream_doc = self.channel.unary_stream(
            "/jina.JinaSingleDocumentRequestRPC/stream_doc",
            request_serializer=jina_pb2.SingleDocumentRequestProto.SerializeToString,
            response_deserializer=jina_pb2.SingleDocumentRequestProto.FromString,
        )


class ReplicaSet:
    """The replicas of one shard of one Executor."""

    def __init__(
        self,
        executor: str,
        addresses: Sequence[str],
        *,
        timeout_send: float | None = None,
        retries: int = -1,
        metadata: dict[str, str] | None = None,
        tls: bool = False,
    ) -> None:
        if not addresses:
            raise ValueError(f"Executor {executor!r} has no replica addresses")
        self.executor = executor
        self._replicas = [_Replica(address, tls) for address in addresses]
        self._next = itertools.cycle(range(len(self._replicas)))
        self._timeout = timeout_send
        self._attempts = max(3, len(addresses)) if retries < 0 else retries + 1
        self._metadata = tuple((metadata or {}).items()) or None

    @property
    def addresses(self) -> list[str]:
        return [replica.address for replica in self._replicas]

    async def send(self, requests: Sequence[jina_pb2.DataRequestProto]) -> jina_pb2.DataRequestProto:
        """Send one request (or several, merged by the Executor) and return the response."""
        last: grpc.aio.AioRpcError | None = None
        first = next(self._next)  # retries walk on from here, so a retry never repeats a replica early
        for attempt in range(self._attempts):
            replica = self._replicas[(first + attempt) % len(self._replicas)]
            try:
                if len(requests) == 1:
                    return await replica.single(requests[0], timeout=self._timeout, metadata=self._metadata)
                message = jina_pb2.DataRequestListProto(requests=list(requests))
                return await replica.many(message, timeout=self._timeout, metadata=self._metadata)
            except grpc.aio.AioRpcError as exc:
                last = exc
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise ExecutorUnavailableError(
                        self.executor,
                        f"no answer from {replica.address} "
                        + (
                            f"within timeout_send={self._timeout:g} s"
                            if self._timeout
                            else "before the deadline"
                        ),
                        exc.code(),
                    ) from exc
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise ExecutorUnavailableError(
                        self.executor,
                        f"{replica.address} answered {exc.code().name}: {exc.details()}",
                        exc.code(),
                    ) from exc
                if attempt + 1 < self._attempts:
                    await asyncio.sleep(min(0.05 * (2**attempt), 1.0))
        assert last is not None
        raise ExecutorUnavailableError(
            self.executor,
            f"{self._attempts} attempt(s) over {', '.join(self.addresses)} failed; "
            f"last error {last.code().name}: {last.details()}",
            last.code(),
        ) from last

    async def discover_endpoints(self, timeout: float = 10.0) -> jina_pb2.EndpointsProto:
        return await self._replicas[0].discover(empty_pb2.Empty(), timeout=timeout, metadata=self._metadata)

    def stream_doc(self, request: jina_pb2.SingleDocumentRequestProto) -> AsyncIterator[Any]:
        """Forward a streaming-endpoint call to the next replica; yields its replies."""
        replica = self._replicas[next(self._next)]
        return replica.stream_doc(request, timeout=self._timeout, metadata=self._metadata)

    async def unreachable(self, timeout: float) -> list[str]:
        """The addresses whose replica does not accept a connection within ``timeout`` seconds."""

        async def ready(replica: _Replica) -> bool:
            try:
                await asyncio.wait_for(replica.channel.channel_ready(), timeout)
            except TimeoutError:
                return False
            return True

        states = await asyncio.gather(*(ready(replica) for replica in self._replicas))
        return [replica.address for replica, ok in zip(self._replicas, states, strict=True) if not ok]

    async def close(self) -> None:
        await asyncio.gather(*(replica.channel.close() for replica in self._replicas))
