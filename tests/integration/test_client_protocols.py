"""The HTTP and WebSocket clients: what they do without a server, and how they are built.

Their behaviour against servers is tested against the devkit gateways and against jina
3.34's (tests/compat/test_devkit_http_ws_client_to_jina.py).
"""

from __future__ import annotations

import asyncio

import pytest
from docarray import BaseDoc

from devkit import AsyncClient, Client
from devkit.errors import ServerUnavailableError


class TextDoc(BaseDoc):
    text: str = ""


@pytest.mark.parametrize("scheme", ["http", "ws"])
def test_server_not_there_is_server_unavailable(free_port, scheme):
    with Client(host=f"{scheme}://127.0.0.1:{free_port}") as client:
        with pytest.raises(ServerUnavailableError, match=f"127.0.0.1:{free_port}"):
            client.post("/", TextDoc(text="a"))
        with pytest.raises(ServerUnavailableError, match=f"127.0.0.1:{free_port}"):
            client.post("/", TextDoc(text="a"), max_attempts=2, initial_backoff=0.01, max_backoff=0.01)
        assert client.is_flow_ready(timeout=1.0) is False
        with pytest.raises(ServerUnavailableError):
            client.dry_run(timeout=1.0)


@pytest.mark.parametrize(
    "kwargs, protocol, tls",
    [
        ({"host": "http://example.org:8080"}, "http", False),
        ({"host": "https://example.org"}, "http", True),
        ({"host": "ws://example.org:8081"}, "websocket", False),
        ({"host": "wss://example.org:8081"}, "websocket", True),
        ({"host": "example.org", "port": 8080, "protocol": "http"}, "http", False),
        ({"host": "example.org", "port": 8080, "protocol": "websocket", "tls": True}, "websocket", True),
    ],
)
def test_protocol_and_tls_come_from_the_scheme_or_the_arguments(kwargs, protocol, tls):
    with Client(**kwargs) as client:
        assert (client.address.protocol, client.address.tls) == (protocol, tls)


def test_asyncio_true_gives_an_async_client_of_the_same_protocol(free_port):
    async def main() -> None:
        client = Client(host=f"http://127.0.0.1:{free_port}", asyncio=True)
        assert isinstance(client, AsyncClient) and client.address.protocol == "http"
        with pytest.raises(ServerUnavailableError):
            async for _ in client.post("/", TextDoc(text="a")):
                pass
        await client.close()

    asyncio.run(main())
