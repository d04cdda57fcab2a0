"""An unmodified jina 3.34 HTTP and WebSocket Client calls a devkit Flow.

devkit serves both protocols from one Flow in this process; jina's client runs in the jina
environment (tests/compat/jina_client.py) and reports what it received as JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest
from docarray import BaseDoc, DocList
from docarray.typing import NdArray

from devkit import Executor, Flow, requests

pytestmark = [pytest.mark.jina_compat, pytest.mark.timeout(120)]

TEXTS = ["alpha", "be", "gamma ray", "d", "epsilon"]


class TextDoc(BaseDoc):
    text: str = ""
    n: int = 0
    embedding: NdArray | None = None


class Shout(Executor):
    @requests(on="/shout")
    def shout(self, docs: DocList[TextDoc], parameters: dict[str, Any], **kwargs: Any) -> DocList[TextDoc]:
        suffix = parameters.get("suffix", "")
        for doc in docs:
            doc.text = doc.text.upper() + suffix
            doc.n = len(doc.text)
            if doc.embedding is not None:
                doc.embedding = doc.embedding * 2
        return docs

    @requests(on="/gen")
    async def gen(self, doc: TextDoc, **kwargs: Any) -> AsyncIterator[TextDoc]:
        for i in range(3):
            yield TextDoc(text=f"{doc.text}-{i}", n=i)

    @requests(on="/boom")
    def boom(self, docs: DocList[TextDoc], **kwargs: Any) -> None:
        raise ValueError("devkit executor exploded")


@pytest.fixture(scope="module")
def flow() -> Iterator[Flow]:
    with Flow(protocol=["http", "websocket"], host="127.0.0.1", runtime="thread", quiet=True).add(
        uses=Shout, name="shouter"
    ) as running:
        yield running


@pytest.mark.parametrize("protocol", ["http", "websocket"])
def test_jina_client_gets_documents_parameters_and_errors(
    flow: Flow, jina_client: Any, protocol: str
) -> None:
    shout, boom, ready = jina_client(
        flow.ports_by_protocol[protocol],
        [
            {"on": "/shout", "texts": TEXTS, "parameters": {"suffix": "?"}, "embed": True, "request_size": 2},
            {"on": "/boom", "texts": TEXTS[:1]},
            {"ready": True},
        ],
        protocol=protocol,
    )
    assert shout["ok"], shout.get("error")
    assert len(shout["responses"]) == 3  # 5 documents in requests of 2
    docs = sorted((doc for r in shout["responses"] for doc in r["docs"]), key=lambda doc: doc["id"])
    assert [doc["id"] for doc in docs] == [f"doc-{i}" for i in range(len(TEXTS))]
    assert [doc["text"] for doc in docs] == [text.upper() + "?" for text in TEXTS]
    assert [doc["n"] for doc in docs] == [len(text) + 1 for text in TEXTS]
    expected = [((np.arange(3, dtype=np.float32) + i) * 2).tolist() for i in range(len(TEXTS))]
    assert [doc["embedding"] for doc in docs] == expected
    assert all(response["parameters"]["suffix"] == "?" for response in shout["responses"])
    assert all(response["routes"] == ["gateway", "shouter"] for response in shout["responses"])

    assert not boom["ok"]
    error = boom["error"]
    assert (error["type"], error["executor"], error["name"]) == ("BadServer", "shouter", "ValueError")
    assert error["args"] == ["devkit executor exploded"] and error["endpoint"] == "/boom"
    assert ready == {"ok": True, "ready": True}


def test_jina_http_client_streams_documents_as_server_sent_events(flow: Flow, jina_client: Any) -> None:
    (outcome,) = jina_client(
        flow.ports_by_protocol["http"], [{"stream_doc": "/gen", "text": "hey"}], protocol="http"
    )
    assert outcome["ok"], outcome.get("error")
    assert [(doc["text"], doc["n"]) for doc in outcome["docs"]] == [("hey-0", 0), ("hey-1", 1), ("hey-2", 2)]
