"""devkit's HTTP and WebSocket clients call a jina 3.34 Deployment and Flow.

jina 3.34 serves HTTP as one route per Executor endpoint (no ``/post``) and answers an
Executor error with HTTP 500; its WebSocket gateway speaks the ``bytes`` subprotocol and
exists for Flows only (a WebSocket Deployment is refused by jina). The client must work
with all of that as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from docarray import BaseDoc, DocList
from docarray.typing import NdArray

from devkit import Client, ExecutorError
from devkit.documents import UntypedDoc
from devkit.errors import UnencodableDocumentError

pytestmark = [pytest.mark.jina_compat, pytest.mark.process, pytest.mark.timeout(180)]

TEXTS = ["alpha", "be", "gamma ray", "d", "epsilon"]
SCHEMES = {"http": "http", "websocket": "ws"}


class TextDoc(BaseDoc):
    text: str = ""
    n: int = 0
    embedding: NdArray | None = None


def make_docs(texts: list[str] = TEXTS) -> DocList[TextDoc]:
    return DocList[TextDoc](
        [
            TextDoc(id=f"doc-{i}", text=text, embedding=np.arange(3, dtype=np.float32) + i)
            for i, text in enumerate(texts)
        ]
    )


@pytest.fixture(
    params=[("deployment", "http"), ("flow", "http"), ("flow", "websocket")],
    ids=["deployment-http", "flow-http", "flow-websocket"],
)
def server(request: pytest.FixtureRequest, jina_servers: Any) -> Any:
    kind, protocol = request.param
    return jina_servers(kind, protocol)


@pytest.fixture
def client(server: Any) -> Iterator[Client]:
    with Client(host=f"{SCHEMES[server.protocol]}://127.0.0.1:{server.port}") as devkit_client:
        yield devkit_client


def expected_texts(kind: str, suffix: str, texts: list[str] = TEXTS) -> list[str]:
    tail = "!" if kind == "flow" else ""  # the Flow's second Executor appends "!"
    return [text.upper() + suffix + tail for text in texts]


def test_documents_parameters_and_batching(server: Any, client: Client) -> None:
    docs = client.post(
        "/shout",
        make_docs(),
        {"suffix": "?"},
        return_type=DocList[TextDoc],
        request_size=2,
        results_in_order=True,
    )
    assert isinstance(docs, DocList)
    assert [doc.id for doc in docs] == [f"doc-{i}" for i in range(len(TEXTS))]
    assert docs.text == expected_texts(server.kind, "?")
    offset = 1000 if server.kind == "flow" else 0
    assert docs.n == [len(text) + 1 + offset for text in TEXTS]
    for i, doc in enumerate(docs):
        np.testing.assert_array_equal(np.asarray(doc.embedding), (np.arange(3, dtype=np.float32) + i) * 2)


def test_schemaless_documents_are_sent_with_every_field(server: Any, client: Client) -> None:
    docs = DocList[UntypedDoc]([UntypedDoc(id="u-1", text="plain", n=7)])
    (doc,) = client.post("/shout", docs, {"suffix": "."})
    assert (doc.id, doc.text) == ("u-1", "PLAIN." + ("!" if server.kind == "flow" else ""))


def test_one_response_per_request_with_parameters_and_results(server: Any, client: Client) -> None:
    responses = client.post(
        "/stats",
        make_docs(),
        {"echo": "hi"},
        return_type=DocList[TextDoc],
        return_responses=True,
        request_size=2,
    )
    assert sorted(len(response.docs) for response in responses) == [1, 2, 2]
    for response in responses:
        assert response.header.exec_endpoint == "/stats"
        assert response.parameters["echo"] == "hi"
        ((key, result),) = response.parameters["__results__"].items()
        assert key.startswith("shouter")
        assert result == {"count": len(response.docs), "echo": "hi"}  # jina sends 2.0 for 2: equal


def test_executor_error_raises_with_its_class_and_message(server: Any, client: Client) -> None:
    with pytest.raises(ExecutorError) as caught:
        client.post("/boom", make_docs(TEXTS[:2]))
    error = caught.value
    assert error.name == "ValueError"
    assert "jina executor exploded" in error.description
    assert error.endpoint == "/boom"
    if server.protocol == "websocket":  # jina's HTTP 500 names no Executor; its WebSocket answer does
        assert error.executor == "Shout"


def test_callbacks_and_continue_on_error(server: Any, client: Client) -> None:
    done: list[Any] = []
    errors: list[Any] = []
    always: list[Any] = []
    result = client.post(
        "/boom",
        make_docs(),
        request_size=2,
        on_done=done.append,
        on_error=errors.append,
        on_always=always.append,
    )
    assert result is None
    assert (len(done), len(errors), len(always)) == (0, 3, 3)
    assert all(response.is_error() for response in errors)
    assert client.post("/boom", make_docs(), request_size=2, continue_on_error=True) == []
    shouted = client.post("/shout", make_docs(TEXTS[:1]), on_done=done.append)
    assert shouted is None and len(done) == 1


def test_readiness(client: Client) -> None:
    assert client.is_flow_ready(timeout=10.0)
    assert client.dry_run(timeout=10.0)


def test_async_client(server: Any) -> None:
    async def main() -> list[str]:
        client = Client(host="127.0.0.1", port=server.port, protocol=server.protocol, asyncio=True)
        texts: list[str] = []
        try:
            async for docs in client.post(
                "/shout", make_docs(), request_size=1, return_type=DocList[TextDoc]
            ):
                texts.extend(docs.text)
        finally:
            await client.close()
        return texts

    assert sorted(asyncio.run(main())) == sorted(expected_texts(server.kind, ""))


def test_http_client_streams_documents_from_a_generator_endpoint(jina_servers: Any) -> None:
    """devkit's HTTP client reads jina's Server-Sent Events, one document per event."""
    deployment = jina_servers("deployment", "http")
    with Client(host=f"http://127.0.0.1:{deployment.port}") as client:
        docs = client.stream_doc("/gen", TextDoc(text="hey"), return_type=TextDoc)
    assert [(doc.text, doc.n) for doc in docs] == [("hey-0", 0), ("hey-1", 1), ("hey-2", 2)]


def test_websocket_to_jina_keeps_docarrays_protobuf_and_names_an_int_it_cannot_carry(
    jina_servers: Any,
) -> None:
    """jina's WebSocket gateway does not name itself devkit: the client sends DocListProto, and an
    int beyond 32 bits is refused before sending with an error naming the field and the limit."""
    flow = jina_servers("flow", "websocket")
    with Client(host=f"ws://127.0.0.1:{flow.port}") as client:
        assert client.post("/shout", make_docs(TEXTS[:1]), return_type=DocList[TextDoc]).text == ["ALPHA!"]
        with pytest.raises(UnencodableDocumentError, match=r"field 'n'.*32-bit range"):
            client.post("/shout", DocList[TextDoc]([TextDoc(text="big", n=2**40)]))
        assert client.post("/shout", make_docs(TEXTS[1:2]), return_type=DocList[TextDoc]).text == ["BE!"]
