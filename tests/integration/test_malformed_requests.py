"""Bytes that are not a jina message get INVALID_ARGUMENT naming the method, on workers and
gateways alike, and the server keeps serving."""

from __future__ import annotations

import grpc
import pytest
from docarray import BaseDoc, DocList

from devkit import Deployment, Executor, requests
from devkit.client.response import Response
from devkit.proto import jina_pb2
from devkit.wire import new_request


class TextDoc(BaseDoc):
    text: str = ""


class Echo(Executor):
    @requests
    def echo(self, docs: DocList[TextDoc], **kwargs) -> None:
        pass


class Stamp(Executor):
    @requests
    def stamp(self, docs: DocList[TextDoc], **kwargs) -> None:
        for doc in docs:
            doc.text += "!"


def _raw_call(port: int, method: str, payload: bytes) -> grpc.RpcError:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as caught:
            call(payload, timeout=10)
    return caught.value


@pytest.mark.parametrize("replicas", [1, 2], ids=["worker", "gateway"])
def test_garbage_is_invalid_argument_and_the_server_keeps_serving(replicas: int) -> None:
    with Deployment(uses=Echo, replicas=replicas, quiet=True) as dep:
        error = _raw_call(
            dep.port, "/jina.JinaSingleDataRequestRPC/process_single_data", b"\xff\xff not protobuf"
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "process_single_data: the request is not a valid jina.DataRequestProto" in error.details()
        assert dep.post("/", TextDoc(text="still here"), return_type=DocList[TextDoc]).text == ["still here"]


def _single(port: int, request: jina_pb2.DataRequestProto) -> jina_pb2.DataRequestProto:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            "/jina.JinaSingleDataRequestRPC/process_single_data",
            request_serializer=jina_pb2.DataRequestProto.SerializeToString,
            response_deserializer=jina_pb2.DataRequestProto.FromString,
        )
        return call(request, timeout=10)


@pytest.mark.parametrize("replicas", [1, 2], ids=["worker", "gateway"])
def test_an_invalid_target_executor_regex_is_an_error_status_naming_it(replicas: int) -> None:
    docs = DocList[TextDoc]([TextDoc(text="hello")])
    with Deployment(uses=Echo, replicas=replicas, quiet=True) as dep:
        reply = _single(dep.port, new_request("/", docs, target_executor="(["))
        assert reply.header.status.code == jina_pb2.StatusProto.ERROR
        assert "target_executor '([' is not a valid regular expression" in reply.header.status.description
        assert reply.header.status.exception.name == "InvalidTargetExecutorError"


def test_a_worker_serves_a_target_executor_naming_another_executor() -> None:
    """A gateway forwards the header unchanged, also to an external Executor whose own name differs."""
    docs = DocList[TextDoc]([TextDoc(text="hello")])
    with Deployment(uses=Stamp, quiet=True) as dep:
        reply = _single(dep.port, new_request("/", docs, target_executor="someone-else"))
    assert Response(reply, DocList[TextDoc]).docs.text == ["hello!"]
