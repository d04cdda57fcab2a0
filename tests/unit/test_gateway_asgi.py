"""The HTTP/WebSocket front-ends' listening socket and JSON writing."""

import socket

import orjson
import pytest
from docarray import BaseDoc, DocList
from docarray.typing import NdArray

from devkit.errors import PortInUseError
from devkit.serve.gateway import http_codec as codec
from devkit.serve.gateway.asgi import bind_socket
from devkit.wire import new_request


def test_listening_socket_is_tcp_so_asyncio_disables_nagle():
    """asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP; with proto 0 each
    HTTP answer waited ~40 ms for a delayed ACK."""
    sock = bind_socket("127.0.0.1", 0, "test")
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_taken_port_is_port_in_use_error():
    first = bind_socket("127.0.0.1", 0, "first")
    first.listen()
    try:
        with pytest.raises(PortInUseError, match=r"second cannot listen on 127\.0\.0\.1:"):
            bind_socket("127.0.0.1", first.getsockname()[1], "second")
    finally:
        first.close()


class Plain(BaseDoc):
    text: str = ""
    tags: dict[str, int] = {}


class WithTensor(BaseDoc):
    embedding: NdArray | None = None


def test_plain_schemas_are_written_by_pydantic_and_the_rest_by_docarray():
    assert codec.plain_schema(Plain) and not codec.plain_schema(WithTensor)
    plain = new_request("/", DocList[Plain]([Plain(text="a", tags={"n": 1})]), devkit_peer=True)
    tensor = new_request("/", DocList[WithTensor]([WithTensor(embedding=[0.5, 2.0])]), devkit_peer=True)
    assert orjson.loads(codec.response_json(plain, Plain))["data"][0] == {
        "id": plain_id(plain),
        "text": "a",
        "tags": {"n": 1},
    }
    assert orjson.loads(codec.response_json(tensor, WithTensor))["data"][0]["embedding"] == [0.5, 2.0]


def plain_id(request):
    from devkit.wire import read_docs

    return read_docs(request, DocList[Plain])[0].id
