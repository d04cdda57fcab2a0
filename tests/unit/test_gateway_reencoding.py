"""Documents the gateway has to decode (a ``when`` filter, a merge) go on in the encoding they came in.

A request in devkit's codec comes from devkit; re-encoding it as ``DocListProto`` would make
every downstream devkit Executor pay docarray's slow reader. Each edge transcodes for a jina
peer itself (:class:`devkit.serve.gateway.peers.PeerEncoding`).
"""

from __future__ import annotations

from docarray import BaseDoc, DocList

from devkit.serve.gateway.core import GatewayCore
from devkit.serve.merge import merge_requests
from devkit.wire import carries_codec, new_request, read_docs


class Item(BaseDoc):
    text: str = ""
    score: int = 0


def _request(devkit_peer: bool, *scores: int):
    docs = DocList[Item]([Item(id=f"d{s}", text=f"t{s}", score=s) for s in scores])
    return new_request("/", docs, devkit_peer=devkit_peer)


def test_a_when_filter_keeps_the_codec_of_the_request_it_filters() -> None:
    filtered, kept = GatewayCore._filtered(_request(True, 1, 5, 9), {"score": {"$gt": 4}})
    assert kept == 2
    assert carries_codec(filtered)
    assert [doc.score for doc in read_docs(filtered, DocList[Item])] == [5, 9]


def test_a_when_filter_on_docarrays_protobuf_stays_docarrays_protobuf() -> None:
    filtered, _ = GatewayCore._filtered(_request(False, 1, 5), {"score": {"$gt": 4}})
    assert not carries_codec(filtered)
    assert [doc.score for doc in read_docs(filtered, DocList[Item])] == [5]


def test_merged_branches_keep_the_codec_they_came_in() -> None:
    merged = merge_requests([_request(True, 1, 2), _request(True, 2, 3)])
    assert carries_codec(merged)
    assert [doc.id for doc in read_docs(merged, DocList[Item])] == ["d1", "d2", "d3"]


def test_merged_branches_from_jina_peers_stay_docarrays_protobuf() -> None:
    merged = merge_requests([_request(False, 1), _request(False, 2)])
    assert not carries_codec(merged)
    assert [doc.id for doc in read_docs(merged, DocList[Item])] == ["d1", "d2"]
