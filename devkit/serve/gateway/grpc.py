"""The gateway's gRPC front-end: jina's RPCs, each answered by one :class:`GatewayCore` operation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from devkit.proto import jina_pb2
from devkit.serve.gateway.core import GatewayCore, NotStreamableError
from devkit.serve.server import GrpcServer, start_grpc_server
from devkit.serve.services import add_jina_services
from devkit.serve.streaming import stream_options
from devkit.spec.models import GatewaySpec

__all__ = ["GatewayServicer", "start_grpc_front_end"]


class GatewayServicer:
    """Translates gRPC calls to core operations; nothing else."""

    def __init__(self, core: GatewayCore) -> None:
        self.core = core

    def register(self, server: grpc.aio.Server) -> list[str]:
        return add_jina_services(self, server)

    async def Call(
        self, request_iterator: AsyncIterator[jina_pb2.DataRequestProto], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[jina_pb2.DataRequestProto]:
        async for response in self.core.stream(request_iterator, **stream_options(context)):
            yield response

    async def process_single_data(
        self, request: jina_pb2.DataRequestProto, context: grpc.aio.ServicerContext
    ) -> jina_pb2.DataRequestProto:
        return await self.core.post(request)

    async def process_data(
        self, request: jina_pb2.DataRequestListProto, context: grpc.aio.ServicerContext
    ) -> jina_pb2.DataRequestProto:
        if len(request.requests) != 1:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the gateway takes exactly one request per call"
            )
        return await self.core.post(request.requests[0])

    async def stream_doc(
        self, request: jina_pb2.SingleDocumentRequestProto, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Message]:
        try:
            replies = self.core.stream_doc(request)
        except NotStreamableError as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        async for reply in replies:
            yield reply

    async def endpoint_discovery(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> jina_pb2.EndpointsProto:
        return jina_pb2.EndpointsProto(endpoints=self.core.endpoints())

    async def _status(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> jina_pb2.JinaInfoProto:
        return self.core.status()

    async def dry_run(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> jina_pb2.StatusProto:
        return await self.core.dry_run(context.time_remaining())


async def start_grpc_front_end(core: GatewayCore, spec: GatewaySpec, port: int) -> GrpcServer:
    return await start_grpc_server(
        GatewayServicer(core).register,
        host=spec.host,
        port=port,
        what=f"gateway {spec.name!r}",
        reflection_enabled=spec.expose_reflection,
        interceptors=() if core.telemetry is None else core.telemetry.server_interceptors(pending=True),
    )
