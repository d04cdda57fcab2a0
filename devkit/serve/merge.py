"""Combining the responses of parallel branches or shards into one request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from docarray import DocList
from docarray.base_doc import AnyDoc
from docarray.utils.reduce import reduce_all
from google.protobuf import struct_pb2

from devkit.proto import jina_pb2
from devkit.serve.hop_timing import LEDGER_KEY
from devkit.wire import RESULTS_KEY, read_docs_and_codec, write_docs

__all__ = ["first_error", "merge_requests"]


def first_error(requests: Sequence[jina_pb2.DataRequestProto]) -> jina_pb2.DataRequestProto | None:
    for request in requests:
        if request.header.status.code == jina_pb2.StatusProto.ERROR:
            return request
    return None


def merge_requests(requests: Sequence[jina_pb2.DataRequestProto]) -> jina_pb2.DataRequestProto:
    """One request whose documents are the inputs' documents reduced by id.

    Documents keep the order in which they first appear (the first input's order, then
    new ids from later inputs). A document present in several inputs is merged by
    docarray's ``reduce_all``: where inputs disagree on a field, the first input's value
    is kept. ``__results__`` of all inputs are kept, as are the workers' timings when asked for.
    """
    if len(requests) == 1:
        return requests[0]
    merged = jina_pb2.DataRequestProto()
    merged.header.CopyFrom(requests[0].header)
    merged.parameters.CopyFrom(requests[0].parameters)
    read = [read_docs_and_codec(request, DocList[AnyDoc]) for request in requests]
    doclists: list[DocList[Any]] = [docs for docs, _ in read]
    non_empty = [docs for docs in doclists if len(docs)]
    reduced = (
        reduce_all(non_empty) if len(non_empty) > 1 else (non_empty[0] if non_empty else DocList[AnyDoc]())
    )
    # in devkit's codec if any input came in it: the edge transcodes for a jina peer
    write_docs(merged, reduced, devkit_peer=any(codec for _, codec in read))
    for key in (RESULTS_KEY, LEDGER_KEY):  # every branch's results and (when asked) timings
        kept = struct_pb2.Struct()
        for request in requests:
            if request.HasField("parameters") and key in request.parameters.fields:
                kept.MergeFrom(request.parameters.fields[key].struct_value)
        if kept.fields:
            merged.parameters[key] = kept
    return merged
