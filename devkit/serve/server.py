"""Starting a grpc.aio server with the options every devkit server shares, and stopping it
after the requests it accepted were answered (see :mod:`devkit.serve.drain`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol, cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from devkit.errors import PortInUseError
from devkit.runtime.base import DEFAULT_GRACE, grace_of
from devkit.serve.drain import Gate, GatedServer

__all__ = [
    "CHANNEL_OPTIONS",
    "FrontEnd",
    "FrontEnds",
    "GrpcServer",
    "serve_until_stopped",
    "start_grpc_server",
]

log = logging.getLogger("devkit.serve")

#: Seconds grpc gets, once every accepted request was answered, to finish writing the last
#: answers; calls still open then (idle ``Call`` streams) are cancelled.
_SETTLE = 1.0

#: Unlimited message sizes (documents can be large); never reach loopback through an HTTP
#: proxy from the environment (a known cause of hanging readiness checks in the original).
CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.enable_http_proxy", 0),
]

#: Without this grpc sets SO_REUSEPORT and two servers could silently share one port.
_SERVER_OPTIONS = [*CHANNEL_OPTIONS, ("grpc.so_reuseport", 0)]


class FrontEnd(Protocol):
    """A started server of any protocol: the ports it listens on, and how to stop it."""

    @property
    def ports(self) -> tuple[int, ...]: ...

    async def stop(self, grace: float | None = DEFAULT_GRACE) -> None: ...


class FrontEnds:
    """Several started front-ends (one per protocol) served and stopped as one."""

    def __init__(self, front_ends: Sequence[FrontEnd]) -> None:
        self.front_ends = list(front_ends)

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(port for front_end in self.front_ends for port in front_end.ports)

    async def stop(self, grace: float | None = DEFAULT_GRACE) -> None:
        await asyncio.gather(*(front_end.stop(grace) for front_end in self.front_ends))


class GrpcServer:
    """A started server, its bound port, its health servicer and the gate of its calls."""

    def __init__(
        self,
        server: grpc.aio.Server,
        port: int,
        health_servicer: health.aio.HealthServicer,
        gate: Gate,
    ) -> None:
        self.server = server
        self.port = port
        self.health = health_servicer
        self.gate = gate

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port,)

    async def stop(self, grace: float | None = DEFAULT_GRACE) -> None:
        """Drain: health says NOT_SERVING, new calls get UNAVAILABLE, and the requests already
        accepted get up to ``grace`` seconds (None: as long as they take) to be answered;
        whatever is left then is cancelled. Then the server stops."""
        await self.health.enter_graceful_shutdown()
        gate = self.gate
        if gate.in_flight:
            log.info(
                "%s is stopping: answering the %d requests in flight first (grace %s)",
                gate.what,
                gate.in_flight,
                "unlimited" if grace is None else f"{grace:g} s",
            )
        left = await gate.drain(grace)
        if left:
            log.warning(
                "%s: %d requests still in flight after the %g s grace are cancelled", gate.what, left, grace
            )
        await self.server.stop(0 if left else _SETTLE)


async def start_grpc_server(
    register: Callable[[grpc.aio.Server], Iterable[str]],
    *,
    host: str,
    port: int,
    what: str,
    reflection_enabled: bool = False,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> GrpcServer:
    """Create, bind and start a server; ``register`` adds servicers and returns their names.

    ``port=0`` binds a free port chosen by the OS; the bound port is returned. ``what``
    names the server in the error raised when the port is taken. ``interceptors`` (tracing)
    are only passed when asked for: none costs nothing.
    """
    server = grpc.aio.server(options=_SERVER_OPTIONS, interceptors=list(interceptors) or None)
    gate = Gate(what)
    # servicers register as on a plain server; their handlers pass the gate (health does not)
    service_names = list(register(cast(grpc.aio.Server, GatedServer(server, gate))))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if reflection_enabled:
        reflection.enable_server_reflection(
            [
                *service_names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )
    address = f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise PortInUseError(f"{what} cannot listen on {address}: the port is already in use") from exc
    if bound == 0:
        raise PortInUseError(f"{what} cannot listen on {address}: the port is already in use")
    await server.start()
    for name in ["", *service_names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return GrpcServer(server, bound, health_servicer, gate)


async def serve_until_stopped(
    starting: Awaitable[FrontEnd],
    on_ready: Callable[..., None],
    stop: asyncio.Event,
    *,
    cleanup: Callable[[], Awaitable[None]],
) -> None:
    """Await the server's start, report its ports, serve until ``stop`` is set, drain.

    The drain lasts up to the grace the stop asked for (:func:`grace_of`). ``cleanup`` runs
    last whatever happened (a failed start included).
    """
    try:
        server = await starting
        try:
            on_ready(*server.ports)
            await stop.wait()
        finally:
            await server.stop(grace_of(stop))
    finally:
        await cleanup()
