"""devkit's Client calls a jina 3.34 Deployment and Flow over gRPC.

jina serves from a subprocess of the jina environment (tests/compat/jina_server.py);
devkit's client runs in this process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from docarray import BaseDoc, DocList
from docarray.typing import NdArray

from devkit import Client, ExecutorError

pytestmark = [pytest.mark.jina_compat, pytest.mark.timeout(120)]

TEXTS = ["alpha", "be", "gamma ray", "d", "epsilon"]


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


@pytest.fixture(params=["deployment", "flow"])
def server(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"jina_{request.param}")


@pytest.fixture
def client(server: Any) -> Iterator[Client]:
    with Client(host="127.0.0.1", port=server.port) as devkit_client:
        yield devkit_client


def expected_texts(kind: str, suffix: str) -> list[str]:
    tail = "!" if kind == "flow" else ""  # the Flow's second Executor appends "!"
    return [text.upper() + suffix + tail for text in TEXTS]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "unary"])
def test_devkit_client_gets_documents(server: Any, client: Client, stream: bool) -> None:
    docs = client.post(
        "/shout",
        make_docs(),
        {"suffix": "?"},
        return_type=DocList[TextDoc],
        request_size=2,
        stream=stream,
        results_in_order=True,
    )
    assert isinstance(docs, DocList)
    assert [doc.id for doc in docs] == [f"doc-{i}" for i in range(len(TEXTS))]
    assert docs.text == expected_texts(server.kind, "?")
    offset = 1000 if server.kind == "flow" else 0
    assert docs.n == [len(text) + 1 + offset for text in TEXTS]
    for i, doc in enumerate(docs):
        np.testing.assert_array_equal(np.asarray(doc.embedding), (np.arange(3, dtype=np.float32) + i) * 2)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "unary"])
def test_devkit_client_gets_parameters_and_results(server: Any, client: Client, stream: bool) -> None:
    responses = client.post(
        "/stats",
        make_docs(TEXTS[:3]),
        {"echo": "hi"},
        return_type=DocList[TextDoc],
        return_responses=True,
        stream=stream,
    )
    (response,) = responses
    assert response.docs.text == TEXTS[:3]
    assert response.parameters["echo"] == "hi"
    results = response.parameters["__results__"]
    (key,) = results
    assert re.fullmatch(r"shouter(/rep-\d)?", key), key
    assert results[key] == {"count": 3, "echo": "hi"}


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "unary"])
def test_devkit_client_raises_executor_error(server: Any, client: Client, stream: bool) -> None:
    with pytest.raises(ExecutorError) as caught:
        client.post("/boom", make_docs(TEXTS[:2]), stream=stream)
    error = caught.value
    # jina names the Executor's class here (jina_server.py: the Deployment's is StreamingShout)
    assert error.executor == ("StreamingShout" if server.kind == "deployment" else "Shout")
    assert error.name == "ValueError"
    assert "jina executor exploded" in error.description
    assert error.endpoint == "/boom"
    assert any("jina executor exploded" in line for line in error.stacks)
    assert "jina executor exploded" in str(error)


def test_devkit_client_readiness(server: Any, client: Client) -> None:
    assert client.is_flow_ready(timeout=10.0)
    assert client.dry_run(timeout=10.0)


def test_devkit_client_stream_doc(jina_deployment: Any) -> None:
    """devkit's client streams documents from a jina generator endpoint."""
    with Client(host="127.0.0.1", port=jina_deployment.port) as client:
        docs = client.stream_doc("/gen", TextDoc(text="hey"), return_type=TextDoc)
    assert [(doc.text, doc.n) for doc in docs] == [("hey-0", 0), ("hey-1", 1), ("hey-2", 2)]
