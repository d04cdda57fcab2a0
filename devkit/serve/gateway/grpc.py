"""The gateway's gRPC front-end: the jina RPCs, answered by a :class:`GatewayCore`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc
from google.protobuf import empty_pb2

from devkit.proto import jina_pb2
from devkit.serve.answers import error_response
from devkit.serve.gateway.core import GATEWAY_NODE, GatewayCore
from devkit.serve.info import info_proto
from devkit.serve.server import GrpcServer, serve_until_stopped, start_grpc_server
from devkit.serve.services import add_jina_services
from devkit.serve.streaming import answer_stream, stream_options
from devkit.spec.models import GatewaySpec
from devkit.wire import error_status

__all__ = ["GatewayServicer", "run_gateway"]


class GatewayServicer:
    def __init__(self, core: GatewayCore, prefetch: int = 0) -> None:
        self.core = core
        self._limit = asyncio.Semaphore(prefetch) if prefetch > 0 else None

    def register(self, server: grpc.aio.Server) -> list[str]:
        return add_jina_services(self, server)

    async def _process(self, request: jina_pb2.DataRequestProto) -> jina_pb2.DataRequestProto:
        if self._limit is None:
            return await self.core.process(request)
        async with self._limit:
            return await self.core.process(request)

    async def Call(
        self, request_iterator: AsyncIterator[jina_pb2.DataRequestProto], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[jina_pb2.DataRequestProto]:
        answers = answer_stream(
            request_iterator, self._process, on_error=self._error, **stream_options(context)
        )
        async for response in answers:
            yield response

    @staticmethod
    def _error(request: jina_pb2.DataRequestProto, exc: Exception) -> jina_pb2.DataRequestProto:
        return error_response(request, exc, GATEWAY_NODE)

    async def process_single_data(
        self, request: jina_pb2.DataRequestProto, context: grpc.aio.ServicerContext
    ) -> jina_pb2.DataRequestProto:
        return await self._process(request)

    async def process_data(
        self, request: jina_pb2.DataRequestListProto, context: grpc.aio.ServicerContext
    ) -> jina_pb2.DataRequestProto:
        if len(request.requests) != 1:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the gateway takes exactly one request per call"
            )
        return await self._process(request.requests[0])

    async def stream_doc(
        self, request: jina_pb2.SingleDocumentRequestProto, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[jina_pb2.SingleDocumentRequestProto]:
        if len(self.core.nodes) != 1:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "streaming endpoints need a Flow with exactly one Executor",
            )
        node = next(iter(self.core.nodes.values()))
        async for reply in node.shards[0].stream_doc(request):
            yield reply

    async def endpoint_discovery(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> jina_pb2.EndpointsProto:
        return jina_pb2.EndpointsProto(endpoints=self.core.endpoints())

    async def _status(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> jina_pb2.JinaInfoProto:
        return info_proto()

    async def dry_run(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> jina_pb2.StatusProto:
        """SUCCESS when every replica of every Executor accepts a connection and every endpoint
        discovery succeeded; else names what failed."""
        down: list[str] = []
        for node in self.core.nodes.values():
            for shard in node.shards:
                down.extend(f"{node.name} at {address}" for address in await shard.unreachable(timeout=5.0))
        problems = [f"unreachable: {', '.join(down)}"] if down else []
        problems.extend(await self.core.discovery_problems())
        if problems:
            return error_status(ConnectionError("; ".join(problems)), "gateway")
        return jina_pb2.StatusProto(code=jina_pb2.StatusProto.SUCCESS)


async def run_gateway(spec: GatewaySpec, on_ready: Callable[[int], None], stop: asyncio.Event) -> None:
    """Serve ``spec`` until ``stop`` is set; drain in-flight and floating work, then close."""
    core = GatewayCore(spec.nodes)

    async def starting() -> GrpcServer:
        await core.start()  # learns the Executors' endpoints; refuses mismatched schemas
        servicer = GatewayServicer(core, spec.prefetch)
        return await start_grpc_server(
            servicer.register,
            host=spec.host,
            port=spec.port,
            what=f"gateway {spec.name!r}",
            reflection_enabled=spec.expose_reflection,
        )

    await serve_until_stopped(starting(), on_ready, stop, cleanup=core.close)
