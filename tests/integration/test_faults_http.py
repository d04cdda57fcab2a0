"""The fake network on HTTP and WebSocket hops: TCP toxics on the client -> gateway edge,
and HTTP status faults (a 503 for the first N requests) answered by an HTTP-aware proxy."""

from __future__ import annotations

import grpc
import httpx
import orjson
import pytest
from docarray import BaseDoc, DocList

from devkit import Executor, requests
from devkit.errors import ServerUnavailableError
from devkit.orchestrate.addressing import Edge
from devkit.testing.faults import LayerError, Schedule


class TextDoc(BaseDoc):
    text: str = ""


class Stamp(Executor):
    @requests
    def stamp(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += "!"


def _docs(count: int) -> DocList[TextDoc]:
    return DocList[TextDoc]([TextDoc(text=f"doc-{i}") for i in range(count)])


@pytest.mark.devkit_protocols("http", "websocket")
def test_the_client_edge_goes_through_the_tcp_proxy(network, flow_factory, client_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="stamp"))
    front = network.edge("client", "gateway")
    front.latency(0.01)
    with flow:
        docs = client_factory(flow).post("/", _docs(3), return_type=DocList[TextDoc])
    assert docs.text == ["doc-0!", "doc-1!", "doc-2!"]
    assert front.stats.connections >= 1 and front.stats.bytes_up > 0
    assert front.stats.faults["latency"] >= 1


@pytest.mark.devkit_protocols("http", "websocket")
def test_a_reset_on_the_client_edge_is_retried(network, flow_factory, client_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="stamp"))
    front = network.edge("client", "gateway")
    with flow:
        client = client_factory(flow)
        client.post("/", _docs(1))  # connected (and the routes read) before the fault
        front.reset_peer(times=1, direction="upstream")
        docs = client.post("/", _docs(2), return_type=DocList[TextDoc], max_attempts=3)
    assert docs.text == ["doc-0!", "doc-1!"]
    assert front.stats.faults["reset_peer"] == 1


@pytest.mark.devkit_protocols("http")
def test_503_for_the_first_requests_then_the_client_retries_through(network, flow_factory, client_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="stamp"))
    front = network.edge("client", "gateway", layer="http")
    with flow:
        client = client_factory(flow)
        client.post("/", _docs(1))  # the client reads the routes (GET /openapi.json) first
        front.fail_first(2, 503)
        docs = client.post("/", _docs(2), return_type=DocList[TextDoc], max_attempts=3)
    assert docs.text == ["doc-0!", "doc-1!"]
    assert front.stats.codes == {"503": 2}
    assert front.stats.faults["fail"] == 2


@pytest.mark.devkit_protocols("http")
def test_without_retries_the_injected_503_is_the_answer(network, flow_factory, client_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="stamp"))
    front = network.edge("client", "gateway", layer="http")
    with flow:
        client = client_factory(flow)
        client.post("/", _docs(1))
        # gRPC's UNAVAILABLE (fail's default code) is HTTP 503
        with (
            front.fail(times=1),
            pytest.raises(ServerUnavailableError, match=r"HTTP 503.*injected by the fake"),
        ):
            client.post("/", _docs(1))
        assert client.post("/", _docs(1), return_type=DocList[TextDoc]).text == ["doc-0!"]


def test_httpx_sees_the_status_on_the_scheduled_requests(network, flow_factory):
    flow = flow_factory(protocol="http").add(uses=Stamp, name="stamp")
    front = network.edge("client", "gateway", layer="http")
    front.fail(500, when=Schedule.at(2, 4), details="disk on fire")
    with flow:
        address = network(Edge("client", "gateway"), f"127.0.0.1:{flow.port}")
        body = {"data": [{"text": "a"}], "execEndpoint": "/"}
        with httpx.Client(base_url=f"http://{address}") as http:
            assert http.get("/").status_code == 200  # health checks are neither counted nor failed
            statuses = [http.post("/post", json=body) for _ in range(3)]
            chunked = [  # a streamed (chunked) body is read before the injected answer too
                http.post(
                    "/post", content=iter([orjson.dumps(body)]), headers={"Content-Type": "application/json"}
                )
                for _ in range(2)
            ]
    assert [response.status_code for response in statuses + chunked] == [200, 500, 200, 500, 200]
    assert statuses[1].json() == {"detail": "disk on fire"}
    assert statuses[2].json()["data"][0]["text"] == "a!"
    assert chunked[1].json()["data"][0]["text"] == "a!"
    assert front.stats.requests == 5 and front.stats.codes == {"500": 2}


@pytest.mark.devkit_protocols("websocket")
def test_a_refused_websocket_handshake_is_retried(network, flow_factory, client_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="stamp"))
    front = network.edge("client", "gateway", layer="http")
    front.fail_first(1, 503)
    with flow:
        docs = client_factory(flow).post("/", _docs(2), return_type=DocList[TextDoc], max_attempts=3)
    assert docs.text == ["doc-0!", "doc-1!"]
    assert front.stats.codes == {"503": 1}


def test_status_faults_fit_only_http_edges(network):
    http_edge = network.edge("client", "gateway", layer="http")
    grpc_edge = network.edge("gateway", "stamp", layer="grpc")
    with pytest.raises(LayerError, match="only a gRPC edge"):
        http_edge.fail(503, where={"text": {"$eq": "x"}})
    with pytest.raises(LayerError, match=r"HTTP status 503.*layer='http'"):
        grpc_edge.fail(503)
    with pytest.raises(ValueError, match=r"HTTP status.*400 to 599"):
        http_edge.fail(200)
    assert http_edge.fail(grpc.StatusCode.DEADLINE_EXCEEDED).status == 504


def test_an_unnamed_status_is_answered_too(network, flow_factory):
    flow = flow_factory(protocol="http").add(uses=Stamp, name="stamp")
    network.edge("client", "gateway", layer="http").fail(599, times=1)
    with flow:
        address = network(Edge("client", "gateway"), f"127.0.0.1:{flow.port}")
        body = {"data": [{"text": "a"}], "execEndpoint": "/"}
        with httpx.Client(base_url=f"http://{address}") as http:
            assert [http.post("/post", json=body).status_code for _ in range(2)] == [599, 200]
