"""Registering a servicer for the jina services, with request parsing we control.

grpc's generated registration parses requests before the servicer runs and answers bytes
that do not parse with status UNKNOWN ("Unexpected DecodeError"). Here each method receives
raw bytes and parses them itself, so malformed input is answered INVALID_ARGUMENT with a
message naming the method and the expected message type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import DecodeError, Message

from devkit.proto import jina_pb2

__all__ = ["JINA_SERVICES", "add_jina_services"]

#: Every service of the jina protocol; workers and gateways both answer all of them.
JINA_SERVICES = (
    "JinaRPC",
    "JinaSingleDataRequestRPC",
    "JinaDataRequestRPC",
    "JinaSingleDocumentRequestRPC",
    "JinaDiscoverEndpointsRPC",
    "JinaInfoRPC",
    "JinaGatewayDryRunRPC",
)


def _parser(method: MethodDescriptor) -> Callable[[bytes, grpc.aio.ServicerContext], Any]:
    message_class: type[Message] = message_factory.GetMessageClass(method.input_type)
    where = f"/{method.containing_service.full_name}/{method.name}"

    async def parse(raw: bytes, context: grpc.aio.ServicerContext) -> Message:
        try:
            return message_class.FromString(raw)
        except DecodeError as exc:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{where}: the request is not a valid {method.input_type.full_name}: {exc}",
            )
            raise  # abort() raises; this line keeps type checkers informed

    return parse


def _handler(servicer: object, method: MethodDescriptor) -> grpc.RpcMethodHandler:
    implementation = getattr(servicer, method.name)
    parse = _parser(method)
    serialize = message_factory.GetMessageClass(method.output_type).SerializeToString

    if method.client_streaming:

        async def stream_stream(raw_requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> Any:
            async def requests() -> AsyncIterator[Message]:
                async for raw in raw_requests:
                    yield await parse(raw, context)

            async for reply in implementation(requests(), context):
                yield reply

        return grpc.stream_stream_rpc_method_handler(stream_stream, response_serializer=serialize)

    if method.server_streaming:

        async def unary_stream(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            request = await parse(raw, context)
            async for reply in implementation(request, context):
                yield reply

        return grpc.unary_stream_rpc_method_handler(unary_stream, response_serializer=serialize)

    async def unary_unary(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        return await implementation(await parse(raw, context), context)

    return grpc.unary_unary_rpc_method_handler(unary_unary, response_serializer=serialize)


def add_jina_services(servicer: object, server: grpc.aio.Server) -> list[str]:
    """Register ``servicer``'s methods for every jina service; return the services' full names."""
    names = []
    for name in JINA_SERVICES:
        service = jina_pb2.DESCRIPTOR.services_by_name[name]
        handlers = {method.name: _handler(servicer, method) for method in service.methods}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
        names.append(service.full_name)
    return names
