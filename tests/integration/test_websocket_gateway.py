"""The WebSocket gateway with a raw WebSocket client: jina's json and bytes subprotocols (GW-5)."""

from __future__ import annotations

import json

import httpx
import pytest
from docarray import BaseDoc, DocList
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

from devkit import Executor, Flow, requests
from devkit.proto import jina_pb2
from devkit.wire import new_request, read_docs


class TextDoc(BaseDoc):
    text: str = ""


class Foo(Executor):
    @requests(on="/foo")
    def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += " foo"
        return docs

    @requests(on="/boom")
    def boom(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        raise ValueError("no time for it")


@pytest.fixture(scope="module")
def ws_url():
    with Flow(protocol="websocket", quiet=True).add(uses=Foo, name="foo") as flow:
        yield f"ws://127.0.0.1:{flow.port}"


def test_json_subprotocol_streams_answers_in_order(ws_url):
    with connect(ws_url + "/", subprotocols=["json"]) as ws:
        assert ws.subprotocol == "json"
        for index in range(20):
            ws.send(
                json.dumps({"data": [{"text": str(index)}], "execEndpoint": "/foo", "requestId": f"r{index}"})
            )
        answers = [json.loads(ws.recv(timeout=10)) for _ in range(20)]
        assert [a["header"]["requestId"] for a in answers] == [f"r{i}" for i in range(20)]
        assert [a["data"][0]["text"] for a in answers] == [f"{i} foo" for i in range(20)]


def test_json_is_the_default_subprotocol(ws_url):
    with connect(ws_url + "/") as ws:
        ws.send(json.dumps({"data": [{"text": "a"}], "execEndpoint": "/foo"}))
        assert json.loads(ws.recv(timeout=10))["data"][0]["text"] == "a foo"


def test_errors_are_answered_per_request_and_the_stream_goes_on(ws_url):
    with connect(ws_url + "/", subprotocols=["json"]) as ws:
        ws.send(json.dumps({"data": [{"text": "a"}], "execEndpoint": "/boom"}))
        ws.send("{not json")
        ws.send(json.dumps({"data": [{"text": {"not": "a string"}}], "execEndpoint": "/foo"}))
        ws.send(json.dumps({"data": [{"text": "b"}], "execEndpoint": "/foo"}))
        boom, bad_json, bad_doc, fine = (json.loads(ws.recv(timeout=10)) for _ in range(4))
        assert boom["header"]["status"]["exception"]["name"] == "ValueError"
        assert boom["header"]["status"]["exception"]["executor"] == "foo"
        assert "not valid JSON" in bad_json["header"]["status"]["description"]
        assert "data[0].text" in bad_doc["header"]["status"]["description"]
        assert fine["data"][0]["text"] == "b foo"


def test_empty_object_ends_the_json_stream(ws_url):
    with connect(ws_url + "/", subprotocols=["json"]) as ws:
        ws.send(json.dumps({"data": [{"text": "a"}], "execEndpoint": "/foo"}))
        ws.send("{}")
        assert json.loads(ws.recv(timeout=10))["data"][0]["text"] == "a foo"
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=10)
        assert ws.close_code == 1000


def test_bytes_subprotocol_carries_jina_requests(ws_url):
    with connect(ws_url + "/", subprotocols=["bytes"]) as ws:
        assert ws.subprotocol == "bytes"
        for index in range(5):
            ws.send(new_request("/foo", DocList[TextDoc]([TextDoc(text=str(index))])).SerializeToString())
        ws.send(bytes(True))  # jina's end of input
        answers = [jina_pb2.DataRequestProto.FromString(ws.recv(timeout=10)) for _ in range(5)]
        assert [read_docs(a, DocList[TextDoc])[0].text for a in answers] == [f"{i} foo" for i in range(5)]


def test_dry_run_over_websocket_and_http(ws_url):
    with connect(ws_url + "/dry_run", subprotocols=["bytes"]) as ws:
        status = jina_pb2.StatusProto.FromString(ws.recv(timeout=10))
        assert status.code == jina_pb2.StatusProto.SUCCESS
    http_url = ws_url.replace("ws://", "http://")
    assert httpx.get(http_url + "/dry_run").json()["code"] == 0
    assert httpx.get(http_url + "/").json() == {}
    assert "jina" in httpx.get(http_url + "/status").json()


@pytest.mark.parametrize("subprotocol", ["json", "bytes"])
def test_an_unreachable_executor_is_answered_per_request_and_the_stream_goes_on(subprotocol, free_port):
    flow = Flow(protocol="websocket", quiet=True).add(
        name="gone", host="127.0.0.1", port=free_port, external=True, retries=0
    )
    with flow, connect(f"ws://127.0.0.1:{flow.port}/", subprotocols=[subprotocol]) as ws:
        for index in range(3):
            if subprotocol == "json":
                ws.send(json.dumps({"data": [], "execEndpoint": "/", "requestId": f"r{index}"}))
            else:
                ws.send(new_request("/", request_id=f"r{index}").SerializeToString())
        answers = [ws.recv(timeout=20) for _ in range(3)]
        if subprotocol == "json":
            headers = [json.loads(answer)["header"] for answer in answers]
            statuses = [(h["requestId"], h["status"]["exception"]) for h in headers]
        else:
            protos = [jina_pb2.DataRequestProto.FromString(answer) for answer in answers]
            statuses = [
                (
                    p.header.request_id,
                    {"name": p.header.status.exception.name, "executor": p.header.status.exception.executor},
                )
                for p in protos
            ]
        assert [request_id for request_id, _ in statuses] == ["r0", "r1", "r2"]
        for _, exception in statuses:
            assert exception["name"] == "ExecutorUnavailableError"
            assert exception["executor"] == "gone"
        assert ws.ping().wait(timeout=10)  # still open: no close frame came instead of the answers
