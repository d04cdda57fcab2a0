"""Counting a request's documents without decoding them, in each encoding a peer may use."""

from __future__ import annotations

from docarray import BaseDoc, DocList

from devkit.proto import jina_pb2
from devkit.wire import doc_count, new_request


class TextDoc(BaseDoc):
    text: str = ""


DOCS = DocList[TextDoc]([TextDoc(text=str(i)) for i in range(3)])


def test_doc_count_reads_every_encoding() -> None:
    as_proto = new_request("/", DOCS)
    as_json = new_request("/", DOCS, use_json=True)
    as_bytes = jina_pb2.DataRequestProto()  # what a jina peer sends: DocListProto serialised in docs_bytes
    as_bytes.data.docs_bytes = DOCS.to_protobuf().SerializeToString()
    assert as_json.data.WhichOneof("documents") == "docs_bytes"
    assert [doc_count(r) for r in (as_proto, as_json, as_bytes, jina_pb2.DataRequestProto())] == [3, 3, 3, 0]
