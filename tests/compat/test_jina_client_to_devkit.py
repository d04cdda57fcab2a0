"""An unmodified jina 3.34 Client calls devkit Deployments and Flows over gRPC.

devkit serves in this process (thread runtime); jina's client runs in the jina
environment (tests/compat/jina_client.py) and reports what it received as JSON.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest
from docarray import BaseDoc, DocList
from docarray.typing import NdArray

from devkit import Deployment, Executor, Flow, requests

pytestmark = [pytest.mark.jina_compat, pytest.mark.timeout(120)]

TEXTS = ["alpha", "be", "gamma ray", "d", "epsilon"]


class TextDoc(BaseDoc):
    text: str = ""
    n: int = 0
    embedding: NdArray | None = None


class Shout(Executor):
    """The same behaviour as the jina Executor of jina_server.py."""

    @requests(on="/shout")
    def shout(self, docs: DocList[TextDoc], parameters: dict[str, Any], **kwargs: Any) -> DocList[TextDoc]:
        suffix = parameters.get("suffix", "")
        for doc in docs:
            doc.text = doc.text.upper() + suffix
            doc.n = len(doc.text)
            if doc.embedding is not None:
                doc.embedding = doc.embedding * 2
        return docs

    @requests(on="/stats")
    def stats(self, docs: DocList[TextDoc], parameters: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {"count": len(docs), "echo": parameters.get("echo")}

    @requests(on="/boom")
    def boom(self, docs: DocList[TextDoc], **kwargs: Any) -> None:
        raise ValueError("devkit executor exploded")


class StreamingShout(Shout):
    @requests(on="/gen")
    async def gen(self, doc: TextDoc, **kwargs: Any) -> AsyncIterator[TextDoc]:
        for i in range(3):
            yield TextDoc(text=f"{doc.text}-{i}", n=i)


class Tag(Executor):
    @requests(on="/shout")
    def tag(self, docs: DocList[TextDoc], **kwargs: Any) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text + "!"
            doc.n = doc.n + 1000
        return docs


@pytest.fixture(scope="module", params=[1, 2], ids=["replicas1", "replicas2"])
def deployment(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    """One replica: the Executor's own server answers; two: a devkit gateway in front."""
    with Deployment(
        uses=StreamingShout,
        name="shouter",
        host="127.0.0.1",
        replicas=request.param,
        runtime="thread",
        quiet=True,
    ) as dep:
        yield dep


@pytest.fixture(scope="module")
def flow() -> Iterator[Flow]:
    with (
        Flow(host="127.0.0.1", runtime="thread", quiet=True)
        .add(uses=Shout, name="shouter")
        .add(uses=Tag, name="tagger") as running
    ):
        yield running


def all_docs(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    assert outcome["ok"], outcome.get("error")
    return [doc for response in outcome["responses"] for doc in response["docs"]]


def expected_embedding(index: int, factor: float = 2.0) -> list[float]:
    return ((np.arange(3, dtype=np.float32) + index) * factor).tolist()


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "unary"])
def test_jina_client_gets_documents_and_parameters(
    deployment: Deployment, jina_client: Any, stream: bool
) -> None:
    shout, stats = jina_client(
        deployment.port,
        [
            {
                "on": "/shout",
                "texts": TEXTS,
                "parameters": {"suffix": "?"},
                "embed": True,
                "request_size": 2,
                "stream": stream,
            },
            {"on": "/stats", "texts": TEXTS[:3], "parameters": {"echo": "hi"}, "stream": stream},
        ],
    )
    docs = sorted(all_docs(shout), key=lambda doc: doc["id"])  # order: test_jina_client_results_in_order
    assert len(shout["responses"]) == 3  # 5 documents in requests of 2
    assert [doc["id"] for doc in docs] == [f"doc-{i}" for i in range(len(TEXTS))]
    assert [doc["text"] for doc in docs] == [text.upper() + "?" for text in TEXTS]
    assert [doc["n"] for doc in docs] == [len(text) + 1 for text in TEXTS]
    assert [doc["embedding"] for doc in docs] == [expected_embedding(i) for i in range(len(TEXTS))]
    assert all(response["parameters"]["suffix"] == "?" for response in shout["responses"])

    (response,) = stats["responses"]
    assert [doc["text"] for doc in response["docs"]] == TEXTS[:3]  # a dict return leaves documents alone
    results = response["parameters"]["__results__"]
    (key,) = results
    assert re.fullmatch(r"shouter/rep-\d", key)  # keyed as jina keys them: <executor>/rep-<replica>
    assert results[key] == {"count": 3, "echo": "hi"}
    assert response["parameters"]["echo"] == "hi"


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "unary"])
def test_jina_client_results_in_order(deployment: Deployment, jina_client: Any, stream: bool) -> None:
    """jina's client leaves ordering of a stream to the server: metadata ``__results_in_order__``."""
    texts = [f"t{i}" for i in range(24)]
    (outcome,) = jina_client(
        deployment.port, [{"on": "/shout", "texts": texts, "request_size": 1, "stream": stream}]
    )
    assert [doc["text"] for doc in all_docs(outcome)] == [text.upper() for text in texts]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "unary"])
def test_jina_client_sees_executor_error(deployment: Deployment, jina_client: Any, stream: bool) -> None:
    (outcome,) = jina_client(deployment.port, [{"on": "/boom", "texts": TEXTS[:2], "stream": stream}])
    assert not outcome["ok"]
    error = outcome["error"]
    assert error["type"] == "BadServer"  # what jina's client raises for an error status
    assert error["executor"] == "shouter"
    assert error["name"] == "ValueError"
    assert error["args"] == ["devkit executor exploded"]
    assert "devkit executor exploded" in error["description"]
    assert error["endpoint"] == "/boom"


def test_jina_client_routes_and_readiness(deployment: Deployment, jina_client: Any) -> None:
    ready, shout = jina_client(deployment.port, [{"ready": True}, {"on": "/shout", "texts": ["x"]}])
    assert ready == {"ok": True, "ready": True}
    (response,) = shout["responses"]
    if deployment.spec.needs_front:
        assert response["routes"] == ["gateway", "shouter"]
    assert [doc["text"] for doc in response["docs"]] == ["X"]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "unary"])
def test_jina_client_through_devkit_flow(flow: Flow, jina_client: Any, stream: bool) -> None:
    shout, boom, ready = jina_client(
        flow.port,
        [
            {
                "on": "/shout",
                "texts": TEXTS,
                "parameters": {"suffix": "?"},
                "embed": True,
                "request_size": 2,
                "stream": stream,
            },
            {"on": "/boom", "texts": TEXTS[:1], "stream": stream},
            {"ready": True},
        ],
    )
    docs = sorted(all_docs(shout), key=lambda doc: doc["id"])
    assert [doc["text"] for doc in docs] == [text.upper() + "?!" for text in TEXTS]
    assert [doc["n"] for doc in docs] == [len(text) + 1 + 1000 for text in TEXTS]
    assert [doc["embedding"] for doc in docs] == [expected_embedding(i) for i in range(len(TEXTS))]
    assert all(response["routes"] == ["gateway", "shouter", "tagger"] for response in shout["responses"])

    assert not boom["ok"]
    assert boom["error"]["executor"] == "shouter"
    assert boom["error"]["name"] == "ValueError"
    assert ready == {"ok": True, "ready": True}


def test_jina_client_stream_doc(deployment: Deployment, jina_client: Any) -> None:
    """jina's async client streams documents from a devkit generator endpoint."""
    (outcome,) = jina_client(deployment.port, [{"stream_doc": "/gen", "text": "hey"}])
    assert outcome["ok"], outcome.get("error")
    assert [(doc["text"], doc["n"]) for doc in outcome["docs"]] == [("hey-0", 0), ("hey-1", 1), ("hey-2", 2)]
