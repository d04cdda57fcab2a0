"""Serving a gateway: one core, one front-end per protocol, started and stopped together."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from devkit.observability import start_telemetry
from devkit.record.recorder import Recorder
from devkit.serve.gateway.core import GatewayCore
from devkit.serve.server import FrontEnd, FrontEnds, serve_until_stopped
from devkit.spec.models import GatewaySpec

__all__ = ["FRONT_ENDS", "run_gateway"]

StartFrontEnd = Callable[[GatewayCore, GatewaySpec, int], Awaitable[FrontEnd]]


def _grpc() -> StartFrontEnd:
    from devkit.serve.gateway.grpc import start_grpc_front_end

    return start_grpc_front_end


def _http() -> StartFrontEnd:
    from devkit.serve.gateway.http import start_http_front_end

    return start_http_front_end


def _websocket() -> StartFrontEnd:
    from devkit.serve.gateway.websocket import start_websocket_front_end

    return start_websocket_front_end


#: protocol -> how to start its front-end (imported lazily: HTTP needs the ``http`` extra)
FRONT_ENDS: dict[str, Callable[[], StartFrontEnd]] = {"grpc": _grpc, "http": _http, "websocket": _websocket}


async def start_front_ends(core: GatewayCore, spec: GatewaySpec) -> FrontEnds:
    """Start every protocol's front-end over ``core``; on a failure, stop those started."""
    started: list[FrontEnd] = []
    try:
        for listener in spec.protocols:
            start = FRONT_ENDS[listener.protocol]()
            started.append(await start(core, spec, listener.port))
    except BaseException:
        await FrontEnds(started).stop(0)
        raise
    return FrontEnds(started)


async def run_gateway(spec: GatewaySpec, on_ready: Callable[..., None], stop: asyncio.Event) -> None:
    """Serve ``spec`` until ``stop`` is set; drain in-flight and floating work, then close.

    ``on_ready`` gets one port per protocol, in the order of ``spec.protocols``.
    """
    telemetry = start_telemetry(spec.telemetry, spec.name, spec.host)
    recorder = None if spec.record is None else Recorder(spec.record, spec.name)
    core = GatewayCore(spec.nodes, spec.prefetch, telemetry, recorder)

    async def cleanup() -> None:
        try:
            await core.close()
        finally:
            if telemetry is not None:
                telemetry.close()
            if recorder is not None:
                await asyncio.to_thread(recorder.close)  # writes what is queued: off the loop

    async def starting() -> FrontEnd:
        await core.start()  # learns the Executors' endpoints; refuses mismatched schemas
        if spec.uses is not None:
            from devkit.serve.gateway.custom import start_custom_gateway

            return await start_custom_gateway(core, spec)
        return await start_front_ends(core, spec)

    await serve_until_stopped(starting(), on_ready, stop, cleanup=cleanup)
