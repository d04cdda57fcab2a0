"""Channels from a gateway to the replicas of one Executor shard.

Channels are created once per replica (never per request). Requests go round-robin;
a replica that is unreachable (UNAVAILABLE) is skipped and the request retried on the next
one, with a short backoff, up to the retry budget.

A channel whose connection attempt failed waits out gRPC's reconnect backoff (1 s, growing
to minutes) and fails every call meanwhile, even after the peer is back. Every call (the
first attempt too, not only a retry) therefore first replaces such a channel with a fresh
one, which dials at once: after a fault heals, the next request gets through even with
``retries=0`` (rate-limited: see :mod:`devkit.serve.redial`).

A connection reset after a request was written is not resent (unless retries allow): the
worker may have read and executed it. gRPC itself resends a call that never reached the
wire (transparent retry), which is the only case known to be safe.

A replica that answers UNAVAILABLE (it refused the connection, dropped it, or says it is
going away) is ejected from the rotation, as Envoy's outlier detection does: later requests
go to the others instead of paying a retry each. One probe task per ejected replica asks the
standard gRPC health service, backing off, and puts it back once it answers SERVING. When
every replica is ejected, requests try them all anyway (Envoy's "panic" mode).

A replica that is a worker of this process (the thread runtime, no fault on the edge) gets
data requests handed over in-process (:mod:`devkit.serve.local`), with the same drain,
deadline, cancellation and error semantics; everything else goes over its channel.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2

from devkit.proto import jina_pb2
from devkit.serve.local import NotDelivered, WorkerDropped, local_worker
from devkit.serve.redial import PRIVATE_POOL, Redial
from devkit.serve.server import CHANNEL_OPTIONS

__all__ = ["ExecutorTimeoutError", "ExecutorUnavailableError", "ReplicaSet", "open_channel"]

log = logging.getLogger("devkit.gateway")


class ExecutorUnavailableError(ConnectionError):
    """No replica of an Executor answered; names the Executor, addresses and gRPC cause."""

    def __init__(self, executor: str, detail: str, code: grpc.StatusCode | None = None) -> None:
        self.executor = executor
        self.code = code
        super().__init__(f"Executor {executor!r} could not be reached: {detail}")


class ExecutorTimeoutError(ExecutorUnavailableError):
    """An Executor did not answer within ``timeout_send`` (HTTP gateways answer 504, not 503)."""


_REPLICA_CHANNEL_OPTIONS = [*CHANNEL_OPTIONS, PRIVATE_POOL]

#: Health probes of an ejected replica: the first after ``_PROBE_FIRST`` seconds, then
#: doubling up to ``_PROBE_MAX``; each probe waits at most ``_PROBE_TIMEOUT`` for an answer.
_PROBE_FIRST = 0.05
_PROBE_MAX = 2.0
_PROBE_TIMEOUT = 1.0


def open_channel(
    address: str,
    *,
    tls: bool = False,
    options: Sequence[tuple[str, Any]] = CHANNEL_OPTIONS,
    interceptors: Sequence[Any] = (),
) -> grpc.aio.Channel:
    """``interceptors`` (tracing) are only installed when given: none costs nothing."""
    chain = list(interceptors) or None
    if tls:
        return grpc.aio.secure_channel(
            address, grpc.ssl_channel_credentials(), options=options, interceptors=chain
        )
    return grpc.aio.insecure_channel(address, options=options, interceptors=chain)


class _Replica:
    def __init__(self, address: str, tls: bool, interceptors: Sequence[Any] = ()) -> None:
        self.address = address
        self._tls = tls
        # may a worker of this process listening on ``address`` take requests? Not when the
        # gateway observes its hops: those go through the channel's interceptors
        self.in_process = not tls and not interceptors
        self._interceptors = interceptors
        self._retired: set[asyncio.Task[None]] = set()
        self.ejected = False
        self._redial = Redial()
        self._open()

    def _open(self) -> None:
        self.channel = open_channel(
            self.address, tls=self._tls, options=_REPLICA_CHANNEL_OPTIONS, interceptors=self._interceptors
        )
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
        self.status = self.channel.unary_unary(
            "/jina.JinaInfoRPC/_status",
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=jina_pb2.JinaInfoProto.FromString,
        )
        self.stream_doc = self.channel.unary_stream(
            "/jina.JinaSingleDocumentRequestRPC/stream_doc",
            request_serializer=jina_pb2.SingleDocumentRequestProto.SerializeToString,
            response_deserializer=jina_pb2.SingleDocumentRequestProto.FromString,
        )
        self.health = self.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )

    async def problem(self, timeout: float, metadata: Any) -> str | None:
        """``None`` when the replica's health check answers SERVING within ``timeout``, else why not.

        A refused connection fails at once (no waiting for ``timeout``); a peer without the
        health service (UNIMPLEMENTED) answered, which is all that can be asked of it.
        """
        await self.fresh()
        try:
            reply = await self.health(health_pb2.HealthCheckRequest(), timeout=timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                return None
            return f"{exc.code().name}: {exc.details()}"
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            return f"health status {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
        return None

    async def fresh(self) -> None:
        """Before a call: swap a channel that is waiting out its reconnect backoff.

        It may have entered the backoff after the last swap (a dial failed within
        ``REOPEN_INTERVAL`` of it, or a health probe's dial failed in the background); the
        wait for the rate limit is at most ``REOPEN_INTERVAL``, and concurrent callers
        share the one fresh channel.
        """
        delay = self._redial.wait(self.channel.get_state())
        if delay is None:
            return
        if delay > 0:
            await asyncio.sleep(delay)
        self.redial()

    def redial(self) -> bool:
        """Swap a channel that is backing off after a failed connection for a fresh one.

        True if it was swapped. The old channel is closed in the background with a grace
        period, so a call still on it (there should be none: it is failing) may finish.
        """
        if not self._redial.due(self.channel.get_state()):
            return False
        old = self.channel
        self._open()
        task = asyncio.get_running_loop().create_task(old.close(grace=5.0))
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)
        return True

    async def close(self) -> None:
        await self.channel.close()
        await asyncio.gather(*self._retired, return_exceptions=True)


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
        interceptors: Sequence[Any] = (),
    ) -> None:
        if not addresses:
            raise ValueError(f"Executor {executor!r} has no replica addresses")
        self.executor = executor
        self._replicas = [_Replica(address, tls, interceptors) for address in addresses]
        self._in_rotation = list(self._replicas)  # the replicas not ejected
        self._probes: dict[_Replica, asyncio.Task[None]] = {}
        self._next = itertools.count()
        self._closed = False
        self._timeout = timeout_send
        self._attempts = max(3, len(addresses)) if retries < 0 else retries + 1
        self._metadata = tuple((metadata or {}).items()) or None

    @property
    def addresses(self) -> list[str]:
        return [replica.address for replica in self._replicas]

    @property
    def ejected(self) -> list[str]:
        """The addresses of the replicas out of the rotation until their health check passes."""
        return [replica.address for replica in self._replicas if replica.ejected]

    def _pick(self, number: int) -> _Replica:
        pool = self._in_rotation or self._replicas  # all ejected: try them all (panic mode)
        return pool[number % len(pool)]

    def _eject(self, replica: _Replica, cause: str) -> None:
        if replica.ejected or self._closed:
            return
        replica.ejected = True
        self._in_rotation = [r for r in self._replicas if not r.ejected]
        log.warning(
            "Executor %r: replica at %s is out of the rotation (%s); probing its health to bring it back",
            self.executor,
            replica.address,
            cause,
        )
        self._probes[replica] = asyncio.get_running_loop().create_task(self._probe(replica))

    async def _probe(self, replica: _Replica) -> None:
        """Ask ``replica``'s health service, backing off, until it answers SERVING."""
        delay = _PROBE_FIRST
        try:
            while True:
                await asyncio.sleep(delay)
                if await replica.problem(_PROBE_TIMEOUT, self._metadata) is None:
                    break
                delay = min(delay * 2, _PROBE_MAX)
        finally:
            self._probes.pop(replica, None)
        replica.ejected = False
        self._in_rotation = [r for r in self._replicas if not r.ejected]
        log.info(
            "Executor %r: replica at %s is healthy again, back in the rotation",
            self.executor,
            replica.address,
        )

    async def send(self, requests: Sequence[jina_pb2.DataRequestProto]) -> jina_pb2.DataRequestProto:
        """Send one request (or several, merged by the Executor) and return the response."""
        last: grpc.aio.AioRpcError | None = None
        first = next(self._next)  # retries walk on from here, so a retry never repeats a replica early
        for attempt in range(self._attempts):
            replica = self._pick(first + attempt)
            local = local_worker(replica.address) if replica.in_process else None
            if local is not None:
                try:
                    return await local.send(requests, self._timeout)
                except NotDelivered:
                    pass  # it is stopping: its socket refuses with UNAVAILABLE, handled below
                except TimeoutError as exc:
                    raise ExecutorTimeoutError(
                        self.executor,
                        f"no answer from {replica.address} within timeout_send={self._timeout:g} s",
                    ) from exc
                except WorkerDropped as exc:
                    raise ExecutorUnavailableError(self.executor, f"{replica.address}: {exc}") from exc
            try:
                await replica.fresh()
                if len(requests) == 1:
                    return await replica.single(requests[0], timeout=self._timeout, metadata=self._metadata)
                message = jina_pb2.DataRequestListProto(requests=list(requests))
                return await replica.many(message, timeout=self._timeout, metadata=self._metadata)
            except grpc.aio.AioRpcError as exc:
                last = exc
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise ExecutorTimeoutError(
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
                self._eject(replica, f"{exc.code().name}: {exc.details()}")
                replica.redial()  # the peer may be back: do not wait out gRPC's reconnect backoff
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
        return await self._pick(0).discover(empty_pb2.Empty(), timeout=timeout, metadata=self._metadata)

    async def info(self, timeout: float = 5.0) -> jina_pb2.JinaInfoProto:
        """The first reachable replica's ``_status`` (what the peer says it is)."""
        last: grpc.aio.AioRpcError | None = None
        for replica in self._replicas:
            try:
                return await replica.status(empty_pb2.Empty(), timeout=timeout, metadata=self._metadata)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                last = exc
        assert last is not None
        raise last

    def stream_doc(self, request: jina_pb2.SingleDocumentRequestProto) -> AsyncIterator[Any]:
        """Forward a streaming-endpoint call to the next replica; yields its replies."""
        replica = self._pick(next(self._next))
        return replica.stream_doc(request, timeout=self._timeout, metadata=self._metadata)

    async def unreachable(self, timeout: float) -> list[str]:
        """``"address (cause)"`` for each replica whose health check does not pass within
        ``timeout`` seconds (a refused connection is reported at once); those are ejected."""
        problems = await asyncio.gather(
            *(replica.problem(timeout, self._metadata) for replica in self._replicas)
        )
        down: list[str] = []
        for replica, problem in zip(self._replicas, problems, strict=True):
            if problem is not None:
                self._eject(replica, problem)
                down.append(f"{replica.address} ({problem})")
        return down

    async def close(self) -> None:
        self._closed = True
        probes = list(self._probes.values())
        for probe in probes:
            probe.cancel()
        await asyncio.gather(*probes, return_exceptions=True)
        await asyncio.gather(*(replica.close() for replica in self._replicas))
