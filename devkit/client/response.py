"""The response object handed to callbacks and returned with ``return_responses=True``."""

from __future__ import annotations

from typing import Any

from docarray import DocList
from docarray.base_doc import AnyDoc
from google.protobuf import json_format

from devkit.client.jsonio import doc_dict
from devkit.proto import jina_pb2
from devkit.wire import parameters_of, read_docs

__all__ = ["Response"]


class Response:
    """A DataRequest answered by the server: ``header``, ``status``, ``parameters``,
    ``routes`` and ``docs`` (decoded on first access as ``return_type``)."""

    __slots__ = ("_doclist_type", "_docs", "_parameters", "proto")

    def __init__(
        self,
        proto: jina_pb2.DataRequestProto,
        doclist_type: type[DocList[Any]] = DocList[AnyDoc],
        *,
        docs: DocList[Any] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """``docs`` and ``parameters`` are given when the transport decoded them itself
        (HTTP's JSON): then ``proto`` carries only the header and routes."""
        self.proto = proto
        self._doclist_type = doclist_type
        self._docs = docs
        self._parameters = parameters

    @property
    def header(self) -> jina_pb2.HeaderProto:
        return self.proto.header

    @property
    def status(self) -> jina_pb2.StatusProto:
        return self.proto.header.status

    @property
    def routes(self) -> Any:
        return self.proto.routes

    @property
    def parameters(self) -> dict[str, Any]:
        if self._parameters is not None:
            return self._parameters
        return parameters_of(self.proto)

    @property
    def docs(self) -> DocList[Any]:
        if self._docs is None:
            self._docs = read_docs(self.proto, self._doclist_type)
        return self._docs

    @property
    def data(self) -> Any:
        return self.proto.data

    def is_error(self) -> bool:
        return self.proto.header.status.code == jina_pb2.StatusProto.ERROR

    def to_dict(self) -> dict[str, Any]:
        result = json_format.MessageToDict(self.proto, preserving_proto_field_name=True)
        result.pop("data", None)
        result["data"] = [doc_dict(doc) for doc in self.docs]
        return result

    def __repr__(self) -> str:
        return f"<Response {self.header.request_id} {self.header.exec_endpoint!r} status={self.status.code}>"
