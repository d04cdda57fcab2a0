"""Documents in a request, in each encoding a peer may use: written, read back and counted."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from docarray import BaseDoc, DocList
from docarray.documents import TextDoc as StockTextDoc

from devkit import codec
from devkit.errors import UnencodableDocumentError
from devkit.proto import jina_pb2
from devkit.wire import carries_codec, doc_count, new_request, read_docs, read_docs_and_codec


class TextDoc(BaseDoc):
    text: str = ""


class Label(str):
    """A str subclass devkit's codec refuses (it would arrive as a plain str)."""


class Loose(BaseDoc):
    extra: Any = None


class Counted(BaseDoc):
    count: int = 0


DOCS = DocList[TextDoc]([TextDoc(text=str(i)) for i in range(3)])


def test_doc_count_reads_every_encoding() -> None:
    as_proto = new_request("/", DOCS)
    as_codec = new_request("/", DOCS, devkit_peer=True)
    as_bytes = jina_pb2.DataRequestProto()  # what a jina peer sends: DocListProto serialised in docs_bytes
    as_bytes.data.docs_bytes = DOCS.to_protobuf().SerializeToString()
    assert carries_codec(as_codec) and not carries_codec(as_proto) and not carries_codec(as_bytes)
    assert [doc_count(r) for r in (as_proto, as_codec, as_bytes, jina_pb2.DataRequestProto())] == [3, 3, 3, 0]


def test_a_devkit_peer_gets_the_codec_and_a_jina_peer_docarrays_protobuf() -> None:
    to_devkit = new_request("/", DOCS, devkit_peer=True)
    to_jina = new_request("/", DOCS)
    assert to_devkit.data.docs_bytes.startswith(codec.MARKER)
    assert to_jina.data.WhichOneof("documents") == "docs"
    assert [d.text for d in read_docs(to_devkit, DocList[TextDoc])] == ["0", "1", "2"]
    assert [d.text for d in read_docs(to_jina, DocList[TextDoc])] == ["0", "1", "2"]


def test_a_request_the_codec_cannot_carry_falls_back_to_docarrays_protobuf() -> None:
    carried = new_request("/", DocList[Loose]([Loose(extra=1), Loose(extra=(1, 2.5))]), devkit_peer=True)
    assert carries_codec(carried)
    odd = DocList[Loose]([Loose(extra=1), Loose(extra=Label("a str subclass the codec does not know"))])
    request = new_request("/", odd, devkit_peer=True)
    assert request.data.WhichOneof("documents") == "docs"  # the whole request, not a lossy part of it
    assert [d.extra for d in read_docs(request, DocList[Loose])] == [
        1,
        "a str subclass the codec does not know",
    ]


def test_docarrays_protobuf_keeps_an_empty_arrays_dtype() -> None:
    """docarray itself answers float64 for any empty array; devkit reads the dtype that was sent."""
    docs = DocList[StockTextDoc]([StockTextDoc(embedding=np.zeros((0, 4), dtype=np.float32))])
    got = read_docs(new_request("/", docs), DocList[StockTextDoc])[0].embedding
    assert (got.dtype, got.shape, type(got)) == (np.float32, (0, 4), type(docs[0].embedding))


def test_an_int_beyond_32_bits_goes_in_the_codec_and_is_a_clear_error_for_a_jina_peer() -> None:
    docs = DocList[Counted]([Counted(count=2**40), Counted(count=-(2**31))])
    read, in_codec = read_docs_and_codec(new_request("/", docs, devkit_peer=True), DocList[Counted])
    assert in_codec and read.count == [2**40, -(2**31)]
    with pytest.raises(
        UnencodableDocumentError, match=r"field 'count'.*32-bit range.*1099511627776"
    ) as caught:
        new_request("/", docs)
    assert isinstance(caught.value, ValueError)  # what docarray raised, so callers catching it still do
