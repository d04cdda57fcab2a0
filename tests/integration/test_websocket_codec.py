"""devkit's document codec over WebSocket between devkit peers: the gateway names itself in
the handshake, the client then sends requests in the codec, which carries what docarray's
protobuf cannot (an int beyond 32 bits)."""

from __future__ import annotations

import pytest
from docarray import BaseDoc, DocList
from websockets.sync.client import connect

from devkit import Executor, requests
from devkit.serve.info import DEVKIT_HEADER, devkit_version

BIG = 2**40


class CountDoc(BaseDoc):
    text: str = ""
    n: int = 0


class Double(Executor):
    @requests
    def double(self, docs: DocList[CountDoc], **kwargs) -> DocList[CountDoc]:
        for doc in docs:
            doc.n *= 2


@pytest.mark.devkit_protocols("websocket")
def test_a_big_int_round_trips_between_devkit_client_and_gateway(flow_factory, client_factory):
    with flow_factory().add(uses=Double, name="double") as flow:
        client = client_factory(flow)
        one = client.post("/", DocList[CountDoc]([CountDoc(text="a", n=BIG)]), return_type=DocList[CountDoc])
        many = client.post(
            "/",
            DocList[CountDoc]([CountDoc(text=str(i), n=BIG + i) for i in range(4)]),
            request_size=1,
            return_type=DocList[CountDoc],
        )
    assert one.n == [2 * BIG]
    assert sorted(many.n) == [2 * (BIG + i) for i in range(4)]


@pytest.mark.devkit_protocols("websocket")
def test_the_gateway_names_itself_in_the_handshake(flow_factory):
    flow = flow_factory().add(uses=Double, name="double")
    with flow, connect(f"ws://127.0.0.1:{flow.port}/", subprotocols=["bytes"]) as ws:
        assert ws.response is not None
        assert ws.response.headers[DEVKIT_HEADER] == devkit_version()
