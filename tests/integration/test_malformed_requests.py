"""Bytes that are not a jina message get INVALID_ARGUMENT naming the method, on workers and
gateways alike, and the server keeps serving."""

from __future__ import annotations

import grpc
import pytest
from docarray import BaseDoc, DocList

from devkit import Deployment, Executor, requests


class TextDoc(BaseDoc):
    text: str = ""


class Echo(Executor):
    @requests
    def echo(self, docs: DocList[TextDoc], **kwargs) -> None:
        pass


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
