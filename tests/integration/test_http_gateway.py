"""The HTTP gateway, called as curl, browsers and Postman do: raw JSON over a real server.

Pages 16 (third-party clients), 25 (gateway arguments), 27/58 (health) and 57 (HTTP
endpoints) of the docs; errors as issue 9 maps them (never a 500 with a traceback).
"""

from __future__ import annotations

import importlib.metadata
import ssl
import threading

import httpx
import numpy as np
import pytest
from docarray import BaseDoc, DocList
from docarray.typing import NdArray
from pydantic import BaseModel, Field

from devkit import Deployment, Executor, Flow, requests


class TextDoc(BaseDoc):
    text: str = Field("", description="the text to work on", examples=["hello world"])


class VectorDoc(BaseDoc):
    text: str = ""
    embedding: NdArray | None = None
    tensor: NdArray | None = None


class SearchParameters(BaseModel):
    limit: int = 10


class Foo(Executor):
    @requests(on="/foo")
    def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        """Append ' foo' to every text."""
        for doc in docs:
            doc.text += " foo"
        return docs

    @requests(on="/search")
    def search(self, docs: DocList[TextDoc], parameters: SearchParameters, **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = f"limit {parameters.limit}"
        return docs

    @requests(on="/params")
    def params(self, docs: DocList[TextDoc], parameters: dict, **kwargs) -> DocList[TextDoc]:
        return docs

    @requests(on="/boom")
    def boom(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        raise ValueError("no time for it")

    @requests(on="/vectors")
    def vectors(self, docs: DocList[VectorDoc], **kwargs) -> DocList[VectorDoc]:
        for doc in docs:
            doc.embedding = np.array([0.5, 1.25, -3.0])
            doc.tensor = np.arange(6).reshape(2, 3)
        return docs


class Streamer(Executor):
    @requests(on="/stream")
    async def stream(self, doc: TextDoc, **kwargs) -> TextDoc:
        for index in range(3):
            yield TextDoc(text=f"{doc.text} {index}")


@pytest.fixture(scope="module")
def http():
    flow = Flow(protocol="http", quiet=True).add(uses=Foo, name="foo")
    with flow, httpx.Client(base_url=f"http://127.0.0.1:{flow.port}", timeout=10) as client:
        yield client


# -- POST /post and the typed routes (GW-1, GW-17) ------------------------------------------------
def test_post_answers_in_jinas_json_shape(http):
    response = http.post("/post", json={"data": [{"text": "hello world"}], "execEndpoint": "/foo"})
    assert response.status_code == 200
    body = response.json()
    assert [doc["text"] for doc in body["data"]] == ["hello world foo"]
    header = body["header"]
    assert header["execEndpoint"] == "/foo" and header["targetExecutor"] == ""
    assert len(header["requestId"]) == 32
    assert header["status"] == {"code": 0, "description": "", "exception": None}
    assert body["parameters"] == {}
    assert [route["executor"] for route in body["routes"]] == ["gateway", "foo"]
    assert all("startTime" in route and "endTime" in route for route in body["routes"])


@pytest.mark.parametrize(
    "ids",
    [
        {"requestId": "abc"},
        {"request_id": "abc"},
        {"header": {"requestId": "abc"}},
        {"header": {"request_id": "abc"}},
    ],
)
def test_request_id_is_accepted_in_both_spellings(http, ids):
    body = http.post("/post", json={"data": [{"text": "a"}], "execEndpoint": "/foo", **ids}).json()
    assert body["header"]["requestId"] == "abc"


def test_each_executor_endpoint_has_its_own_route(http):
    body = http.post("/foo", json={"data": [{"text": "a"}, {"text": "b"}]}).json()
    assert [doc["text"] for doc in body["data"]] == ["a foo", "b foo"]
    assert body["header"]["execEndpoint"] == "/foo"


def test_one_document_may_be_sent_without_a_list(http):
    assert http.post("/foo", json={"data": {"text": "a"}}).json()["data"][0]["text"] == "a foo"


def test_target_executor_is_honoured(http):
    body = http.post(
        "/post", json={"data": [{"text": "a"}], "execEndpoint": "/foo", "targetExecutor": "nobody"}
    ).json()
    assert body["data"][0]["text"] == "a" and body["header"]["targetExecutor"] == "nobody"


def test_parameters_go_through_and_integers_stay_integers(http):
    parameters = {"k": 3, "ratio": 0.5, "nested": {"n": [1, 2]}, "name": "x"}
    body = http.post("/params", json={"data": [], "parameters": parameters}).json()
    assert body["parameters"] == parameters


def test_typed_parameters_are_validated(http):
    assert (
        http.post("/search", json={"data": [{}], "parameters": {"limit": 3}}).json()["data"][0]["text"]
        == "limit 3"
    )
    response = http.post("/search", json={"data": [{}], "parameters": {"limit": "many"}})
    assert response.status_code == 422
    assert "parameters.limit" in response.json()["detail"]


def test_embeddings_and_tensors_come_back_as_exact_lists(http):
    body = http.post("/vectors", json={"data": [{"text": "v"}]}).json()
    doc = body["data"][0]
    assert doc["embedding"] == [0.5, 1.25, -3.0]
    assert doc["tensor"] == [[0, 1, 2], [3, 4, 5]]


# -- errors (issue 9's mapping) ---------------------------------------------------------------
def test_executor_error_is_a_200_with_the_error_in_the_header(http):
    response = http.post("/boom", json={"data": [{"text": "a"}]})
    assert response.status_code == 200
    status = response.json()["header"]["status"]
    assert status["code"] == 1
    assert status["exception"]["name"] == "ValueError"
    assert status["exception"]["executor"] == "foo"
    assert "no time for it" in status["description"]


def test_body_that_is_not_json_is_a_422(http):
    response = http.post("/foo", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["detail"]


def test_document_that_does_not_validate_is_a_422_naming_the_field(http):
    response = http.post("/foo", json={"data": [{"text": "ok"}, {"text": {"no": "string"}}]})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("data[1].text:")


def test_invalid_target_executor_is_a_422(http):
    response = http.post("/post", json={"data": [], "execEndpoint": "/foo", "targetExecutor": "(unclosed"})
    assert response.status_code == 422
    assert "(unclosed" in response.json()["detail"]


def test_deployment_takes_the_http_options():
    with Deployment(uses=Foo, protocol="http", title="One Executor", cors=True, quiet=True) as dep:
        base = f"http://127.0.0.1:{dep.port}"
        assert httpx.get(base + "/openapi.json").json()["info"]["title"] == "One Executor"
        preflight = httpx.options(
            base + "/foo", headers={"Origin": "http://example.org", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" in preflight.headers


def test_post_without_exec_endpoint_is_a_422(http):
    response = http.post("/post", json={"data": []})
    assert response.status_code == 422
    assert "execEndpoint" in response.json()["detail"]


def test_unknown_endpoint_is_a_404_naming_what_is_served(http):
    response = http.post("/post", json={"data": [], "execEndpoint": "/nope"})
    assert response.status_code == 404
    assert "'/nope'" in response.json()["detail"] and "/foo" in response.json()["detail"]
    response = http.post("/nope", json={"data": []})
    assert response.status_code == 404
    assert "/foo" in response.json()["detail"] and "/post" in response.json()["detail"]


def test_unreachable_executor_is_a_503_with_the_error_in_the_header(free_port):
    flow = Flow(protocol="http", quiet=True).add(
        name="gone", host="127.0.0.1", port=free_port, external=True, retries=0
    )
    with flow:
        response = httpx.post(
            f"http://127.0.0.1:{flow.port}/post", json={"data": [], "execEndpoint": "/"}, timeout=10
        )
        assert response.status_code == 503
        status = response.json()["header"]["status"]
        assert status["exception"]["executor"] == "gone" and str(free_port) in status["description"]
        dry_run = httpx.get(f"http://127.0.0.1:{flow.port}/dry_run", timeout=30).json()
        assert dry_run["code"] == 1 and f"gone at 127.0.0.1:{free_port}" in dry_run["description"]


class Stuck(Executor):
    release = threading.Event()

    @requests
    def wait(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        self.release.wait(30)
        return docs


def test_deadline_is_a_504():
    with Flow(protocol="http", timeout_send=200, quiet=True).add(uses=Stuck, name="stuck") as flow:
        try:
            response = httpx.post(
                f"http://127.0.0.1:{flow.port}/post", json={"data": [{}], "execEndpoint": "/"}, timeout=10
            )
        finally:
            Stuck.release.set()
        assert response.status_code == 504
        assert "timeout_send" in response.json()["header"]["status"]["description"]


# -- health, status, dry run (HEALTH-6, HEALTH-9, GW-28) ---------------------------------------
def test_health_is_an_empty_object(http):
    response = http.get("/")
    assert response.status_code == 200 and response.json() == {}


def test_status_lists_versions_and_environment(http):
    body = http.get("/status").json()
    assert set(body) == {"jina", "envs"} and "docarray" in body["jina"]


def test_status_reads_the_package_versions_once(http, monkeypatch):
    """Package metadata is read from disk (about 8 ms); the versions cannot change while serving."""
    reads: list[str] = []
    read = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: reads.append(name) or read(name))
    first = http.get("/status").json()
    reads.clear()
    assert http.get("/status").json() == first
    assert reads == []


def test_dry_run_of_a_healthy_flow(http):
    assert http.get("/dry_run").json() == {"code": 0, "description": "", "exception": None}


# -- OpenAPI and the docs pages (GW-2) -----------------------------------------------------------
def test_openapi_describes_each_endpoint_with_its_schema(http):
    document = http.get("/openapi.json").json()
    assert {"/foo", "/search", "/post", "/status", "/", "/dry_run", "/index"} <= set(document["paths"])
    operation = document["paths"]["/foo"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    reference = body["properties"]["data"]["anyOf"][0]["items"]["$ref"]
    schema = document["components"]["schemas"][reference.rsplit("/", 1)[1]]
    assert schema["properties"]["text"]["description"] == "the text to work on"
    parameters = document["paths"]["/search"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert parameters["properties"]["parameters"]["$ref"].endswith("/SearchParameters")


def test_docs_pages_load_their_assets_from_the_gateway(http):
    for page in ("/docs", "/redoc"):
        html = http.get(page).text
        assert "/openapi.json" in html and "http" not in html.replace("http-equiv", "")
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        response = http.get(f"/docs/assets/{asset}")
        assert response.status_code == 200 and len(response.content) > 10_000


# -- gateway options (GW-11, GW-16, GW-18, GW-19, GW-21, GW-26) ---------------------------------
def test_no_debug_and_no_crud_endpoints_hide_their_routes():
    flow = Flow(quiet=True).config_gateway(protocol="http", no_debug_endpoints=True, no_crud_endpoints=True)
    with flow.add(uses=Foo) as flow:
        base = f"http://127.0.0.1:{flow.port}"
        for path in ("/post", "/index"):
            assert httpx.post(base + path, json={"data": []}).status_code == 404, path
        assert httpx.get(base + "/status").status_code == 404
        assert (
            httpx.post(base + "/search", json={"data": [{}]}).status_code == 200
        )  # an Executor endpoint stays
        paths = httpx.get(base + "/openapi.json").json()["paths"]
        assert "/post" not in paths and "/status" not in paths and "/index" not in paths


def test_expose_endpoint_sets_methods_summary_and_tags():
    flow = Flow(quiet=True).config_gateway(protocol="http").add(uses=Foo)
    flow.expose_endpoint("/foo", summary="my endpoint", tags=["fine-tuning"], methods=["PUT"])
    with flow:
        base = f"http://127.0.0.1:{flow.port}"
        assert httpx.put(base + "/foo", json={"data": [{"text": "a"}]}).json()["data"][0]["text"] == "a foo"
        assert httpx.post(base + "/foo", json={"data": [{"text": "a"}]}).status_code == 405
        operation = httpx.get(base + "/openapi.json").json()["paths"]["/foo"]["put"]
        assert operation["summary"] == "my endpoint" and operation["tags"] == ["fine-tuning"]


def test_title_description_and_cors():
    flow = Flow(quiet=True).config_gateway(
        protocol="http", title="My API", description="does things", cors=True
    )
    with flow.add(uses=Foo) as flow:
        base = f"http://127.0.0.1:{flow.port}"
        info = httpx.get(base + "/openapi.json").json()["info"]
        assert (info["title"], info["description"]) == ("My API", "does things")
        preflight = httpx.options(
            base + "/foo",
            headers={"Origin": "http://example.org", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] in ("*", "http://example.org")


def test_without_cors_no_cross_origin_header(http):
    response = http.post("/foo", json={"data": []}, headers={"Origin": "http://example.org"})
    assert "access-control-allow-origin" not in response.headers


def test_uvicorn_kwargs_reach_uvicorn():
    with Flow(protocol="http", uvicorn_kwargs={"server_header": False}, quiet=True).add(uses=Foo) as flow:
        assert "server" not in httpx.get(f"http://127.0.0.1:{flow.port}/").headers
    with Flow(protocol="http", quiet=True).add(uses=Foo) as flow:
        assert httpx.get(f"http://127.0.0.1:{flow.port}/").headers["server"] == "uvicorn"


def test_tls_with_ssl_certfile_and_keyfile(tmp_path):
    import trustme

    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certificate.cert_chain_pems[0].write_to_path(str(certfile))
    certificate.private_key_pem.write_to_path(str(keyfile))
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    flow = Flow(quiet=True).config_gateway(
        protocol="http", ssl_certfile=str(certfile), ssl_keyfile=str(keyfile)
    )
    with flow.add(uses=Foo) as flow:
        with httpx.Client(verify=ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))) as client:
            body = client.post(f"https://127.0.0.1:{flow.port}/foo", json={"data": [{"text": "a"}]}).json()
        assert body["data"][0]["text"] == "a foo"


# -- streaming endpoints as Server-Sent Events -------------------------------------------------
def _events(text: str) -> list[tuple[str, str]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = dict(
            line.split(": ", 1) if ": " in line else (line.rstrip(":"), "") for line in block.splitlines()
        )
        if "event" in lines:
            events.append((lines["event"], lines.get("data", "")))
    return events


def test_streaming_endpoint_sends_one_event_per_document():
    with Flow(protocol="http", quiet=True).add(uses=Streamer) as flow:
        base = f"http://127.0.0.1:{flow.port}"
        with httpx.stream(
            "GET", base + "/stream", json={"text": "hi"}, headers={"Accept": "text/event-stream"}
        ) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            events = _events(r.read().decode())
        assert [event for event, _ in events] == ["update", "update", "update", "end"]
        assert [httpx.Response(200, content=data).json()["text"] for _, data in events[:3]] == [
            "hi 0",
            "hi 1",
            "hi 2",
        ]
        by_query = _events(httpx.get(base + "/stream", params={"text": "q"}).text)
        assert len(by_query) == 4 and "q 2" in by_query[2][1]


# -- the curl examples of page 16 and page 57, run as written --------------------------------
def _curl(*args: str) -> dict:
    import json
    import shutil
    import subprocess

    curl = shutil.which("curl")
    assert curl is not None, "curl is installed by scripts/ensure_system_packages.py"
    done = subprocess.run(
        [curl, "--silent", "--show-error", *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_curl_examples_of_the_docs(free_port):
    class Search(Executor):
        @requests(on=["/search", "/foo"])
        def search(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
            for doc in docs:
                doc.text = doc.text.upper()
            return docs

    with Flow(protocol="http", port=free_port, quiet=True).add(uses=Search):
        url = f"http://localhost:{free_port}"
        body = _curl(
            "--request", "POST", f"{url}/search",
            "--header", "Content-Type: application/json",
            "-d", '{"data": [{"text": "hello world"}]}',
        )  # fmt: skip
        assert body["data"][0]["text"] == "HELLO WORLD"
        body = _curl(
            "--request", "POST", f"{url}/post",
            "--header", "Content-Type: application/json",
            "-d", '{"data": [{"text": "hello world"}],"execEndpoint": "/search"}',
        )  # fmt: skip
        assert body["data"][0]["text"] == "HELLO WORLD" and body["header"]["execEndpoint"] == "/search"
        body = _curl(
            "--request", "POST", f"{url}/post",
            "--header", "Content-Type: application/json",
            "-d", '{"data": [{"text": "hello world"}], "execEndpoint": "/foo"}',
        )  # fmt: skip
        assert body["data"][0]["text"] == "HELLO WORLD"
        assert _curl(url) == {}  # page 58: the health check
