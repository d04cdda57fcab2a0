"""The gateway forwards documents it only passes on: it never decodes them.

Each call of the document decoders (devkit's codec and docarray's protobuf reader) is
recorded with whether gateway code made it, through a real Flow on the thread runtime
(gateway and workers in this process). The Executors decode, as they must; the gateway only
where a ``when`` filter reads document fields.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import grpc
import pytest
from docarray import BaseDoc, DocList

from devkit import Executor, Flow, codec, requests
from devkit.proto import jina_pb2
from devkit.wire import new_request, read_docs

GATEWAY_FILES = ("devkit/serve/gateway/", "devkit/serve/merge.py")


class Doc(BaseDoc):
    text: str = ""
    score: int = 0


class Mark(Executor):
    @requests
    def mark(self, docs: DocList[Doc], **kwargs) -> DocList[Doc]:
        for doc in docs:
            doc.text += f"|{self.metas.name}"
        return docs


def _by_gateway() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if any(part in frame.f_code.co_filename.replace("\\", "/") for part in GATEWAY_FILES):
            return True
        frame = frame.f_back
    return False


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """One entry per document decoding anywhere in this process: True when the gateway made it."""
    made: list[bool] = []
    for name in ("decode_docs", "read_doclist_proto"):
        real = getattr(codec, name)

        def counted(*args, _real=real, **kwargs):
            made.append(_by_gateway())
            return _real(*args, **kwargs)

        monkeypatch.setattr(codec, name, counted)
    yield made


def _docs() -> DocList[Doc]:
    return DocList[Doc]([Doc(text=str(i), score=i) for i in range(4)])


@pytest.mark.parametrize("devkit_client", [True, False], ids=["codec", "doclist-proto"])
def test_a_chain_of_executors_is_forwarded_without_decoding_in_the_gateway(decodes, devkit_client):
    flow = Flow(quiet=True, runtime="thread").add(uses=Mark, name="a").add(uses=Mark, name="b")
    with flow, grpc.insecure_channel(f"127.0.0.1:{flow.port}") as channel:
        call = channel.unary_unary(
            "/jina.JinaSingleDataRequestRPC/process_single_data",
            request_serializer=jina_pb2.DataRequestProto.SerializeToString,
            response_deserializer=jina_pb2.DataRequestProto.FromString,
        )
        decodes.clear()  # startup is not the subject
        response = call(new_request("/", _docs(), devkit_peer=devkit_client), timeout=30)
        made = list(decodes)
    assert made.count(True) == 0
    assert made.count(False) >= 2  # both Executors decoded: the hook sees decoding at all
    assert [doc.text for doc in read_docs(response, DocList[Doc])] == [f"{i}|a|b" for i in range(4)]


def test_a_when_filter_on_document_fields_still_decodes_in_the_gateway(decodes):
    flow = (
        Flow(quiet=True, runtime="thread")
        .add(uses=Mark, name="a")
        .add(uses=Mark, name="b", when={"score": {"$gt": 1}})
    )
    with flow:
        decodes.clear()
        flow.post("/", _docs(), return_type=DocList[Doc])
    assert decodes.count(True) >= 1
