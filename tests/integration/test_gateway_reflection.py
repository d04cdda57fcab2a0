"""The gateway answers gRPC server reflection, so tools such as grpcurl can discover it."""

from __future__ import annotations

import grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from devkit import Executor, Flow


def test_reflection_lists_the_jina_and_health_services() -> None:
    with (
        Flow(quiet=True).add(uses=Executor) as flow,
        grpc.insecure_channel(f"127.0.0.1:{flow.port}") as channel,
    ):
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        call = database.FindFileContainingSymbol("jina.JinaRPC")
    assert {"jina.JinaRPC", "jina.JinaSingleDataRequestRPC", "grpc.health.v1.Health"} <= services
    assert call.name == "jina.proto"
