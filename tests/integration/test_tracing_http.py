"""Tracing over HTTP and WebSocket: the client's span, the gateway's span per request (per
request message on a WebSocket), each hop and each Executor method, in one trace."""

from __future__ import annotations

import httpx
import pytest
from docarray import DocList
from docarray.documents import TextDoc

from devkit import Client, Executor, Flow, requests

HOP = "/jina.JinaSingleDataRequestRPC/process_single_data"


class Exclaim(Executor):
    @requests(on="/index")
    def index(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += "!"
        return docs


class Fails(Executor):
    @requests(on="/index")
    def index(self, docs: DocList[TextDoc], **kwargs) -> None:
        raise ValueError("bad input")


def _flow(protocol: str, *executors: type[Executor]) -> Flow:
    flow = Flow(tracing=True, protocol=protocol)
    for index, executor in enumerate(executors):
        flow = flow.add(uses=executor, name=f"{executor.__name__.lower()}{index}")
    return flow


def test_one_trace_per_http_request_from_the_client_through_the_gateway_to_the_executor(spans):
    with _flow("http", Exclaim, Exclaim) as flow:
        client = Client(port=flow.port, protocol="http", tracing=True)
        docs = client.post("/index", DocList[TextDoc]([TextDoc(text="a")]), return_type=DocList[TextDoc])
        client.post("/index", DocList[TextDoc]([TextDoc(text="b")]))
        client.close()
    assert docs.text == ["a!!"]
    spans.wait_for(lambda s: len(s.trace_ids()) == 2 and all(s.complete(t) for t in s.trace_ids()))
    for trace_id in spans.trace_ids():
        assert spans.shape(trace_id) == [
            "POST /post CLIENT",
            "  POST /post SERVER",
            f"    {HOP} CLIENT",
            f"      {HOP} SERVER",
            "        /index INTERNAL",
            f"    {HOP} CLIENT",
            f"      {HOP} SERVER",
            "        /index INTERNAL",
        ], spans.tree(trace_id)
    client_span = next(s for s in spans if s.kind == "CLIENT" and s.name == "POST /post")
    server_span = next(s for s in spans if s.kind == "SERVER" and s.name == "POST /post")
    assert client_span.service == "client" and server_span.service == "Flow/gateway"
    assert client_span.attributes["http.request.method"] == "POST"
    assert client_span.attributes["url.full"] == f"http://127.0.0.1:{flow.port}/post"
    assert client_span.attributes["http.response.status_code"] == 200
    assert server_span.attributes["http.route"] == "/post"
    assert server_span.attributes["url.path"] == "/post"
    assert server_span.attributes["server.port"] == flow.port
    assert server_span.attributes["http.response.status_code"] == 200
    assert not spans.errors(), spans.tree()


def test_one_trace_per_websocket_post_with_a_server_span_per_request_message(spans):
    with _flow("websocket", Exclaim) as flow:
        client = Client(port=flow.port, protocol="websocket", tracing=True)
        docs = client.post(
            "/index",
            DocList[TextDoc]([TextDoc(text="a"), TextDoc(text="b")]),
            request_size=1,
            return_type=DocList[TextDoc],
        )
        client.close()
    assert sorted(docs.text) == ["a!", "b!"]
    spans.wait_for(lambda s: len(s.named("/index")) == 2 and s.complete(s.trace_ids()[0]))
    assert len(spans.trace_ids()) == 1, spans.tree()
    assert spans.shape() == [
        "WS / CLIENT",
        "  WS / SERVER",
        f"    {HOP} CLIENT",
        f"      {HOP} SERVER",
        "        /index INTERNAL",
        "  WS / SERVER",
        f"    {HOP} CLIENT",
        f"      {HOP} SERVER",
        "        /index INTERNAL",
    ], spans.tree()
    served = [s for s in spans if s.kind == "SERVER" and s.name == "WS /"]
    assert {s.attributes["jina.endpoint"] for s in served} == {"/index"}
    assert len({s.attributes["jina.request_id"] for s in served}) == 2
    assert all(s.attributes["network.protocol.name"] == "websocket" for s in served)
    assert not spans.errors(), spans.tree()


@pytest.mark.parametrize("protocol", ["http", "websocket"])
def test_an_executor_error_marks_the_client_and_gateway_spans_with_it(spans, protocol):
    with _flow(protocol, Fails) as flow:
        client = Client(port=flow.port, protocol=protocol, tracing=True)
        with pytest.raises(Exception, match="bad input"):
            client.post("/index", DocList[TextDoc]([TextDoc(text="x")]))
        client.close()
    spans.wait_for(lambda s: len(s.trace_ids()) == 1 and s.complete(s.trace_ids()[0]))
    name = "POST /post" if protocol == "http" else "WS /"
    failed = {(span.name, span.kind) for span in spans.errors()}
    assert {(name, "CLIENT"), (name, "SERVER"), (HOP, "SERVER")} <= failed, spans.tree()
    for kind in ("CLIENT", "SERVER"):
        (span,) = [s for s in spans.named(name) if s.kind == kind]
        assert span.status_message == "ValueError('bad input')", spans.tree()
        assert span.attributes["jina.executor"] == "fails0"


def test_the_http_gateway_continues_the_trace_of_an_incoming_traceparent(spans):
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with _flow("http", Exclaim) as flow:
        answer = httpx.post(
            f"http://127.0.0.1:{flow.port}/post",
            json={"execEndpoint": "/index", "data": [{"text": "a"}]},
            headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
        )
    assert answer.status_code == 200
    assert answer.json()["data"][0]["text"] == "a!"
    spans.wait_for_named("/index")
    (server,) = spans.wait_for(lambda s: len(s.named("POST /post")) == 1).named("POST /post")
    assert (server.kind, server.trace_id, server.parent_id) == ("SERVER", trace_id, parent_id)
    assert {span.trace_id for span in spans} == {trace_id}, spans.tree()
    assert spans.shape() == [
        "POST /post SERVER",
        f"  {HOP} CLIENT",
        f"    {HOP} SERVER",
        "      /index INTERNAL",
    ], spans.tree()


def test_the_websocket_gateway_continues_the_trace_its_connection_was_opened_in(spans):
    """A client that is not devkit's (jina's, instrumented) sends the context in the handshake."""
    import asyncio

    from websockets.asyncio.client import connect

    trace_id, parent_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"

    async def post(port: int) -> str:
        headers = {"traceparent": f"00-{trace_id}-{parent_id}-01"}
        async with connect(
            f"ws://127.0.0.1:{port}/", subprotocols=["json"], additional_headers=headers
        ) as ws:
            await ws.send('{"execEndpoint": "/index", "data": [{"text": "a"}]}')
            answer = await ws.recv()
            await ws.send("{}")
            return str(answer)

    with _flow("websocket", Exclaim) as flow:
        answer = asyncio.run(post(flow.port))
    assert '"a!"' in answer
    spans.wait_for_named("/index")
    (server,) = spans.wait_for(lambda s: len(s.named("WS /")) == 1).named("WS /")
    assert (server.kind, server.trace_id, server.parent_id) == ("SERVER", trace_id, parent_id)
    assert {span.trace_id for span in spans} == {trace_id}, spans.tree()


@pytest.mark.parametrize("protocol", ["http", "websocket"])
def test_tracing_off_installs_nothing_on_the_http_and_websocket_paths(spans, protocol):
    from devkit.client.http import HttpTransport
    from devkit.client.websocket import WebSocketTransport

    with Flow(protocol=protocol).add(uses=Exclaim, name="exclaim") as flow:
        client = Client(port=flow.port, protocol=protocol)
        client.post("/index", DocList[TextDoc]([TextDoc(text="a")]))
        transport = client._async.transport
        assert type(transport) in (HttpTransport, WebSocketTransport)
        assert client._async.telemetry is None
        client.close()
    assert len(spans) == 0
