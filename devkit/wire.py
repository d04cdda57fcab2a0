"""DataRequest protobufs: building them, reading and writing their documents and status.

Documents travel in one of two encodings inside ``DataRequestProto.data``:

* ``docs`` — docarray's ``DocListProto``: what jina peers speak; exact for every field
  type, but docarray's conversion costs tens of microseconds per document.
* ``docs_bytes`` starting with :data:`JSON_MARKER` — pydantic-core JSON of the documents,
  about 10x cheaper each way. devkit uses it only towards peers known to be devkit and
  only for schemas JSON represents exactly (no tensors or bytes); a jina peer is never
  sent it. Plain ``docs_bytes`` (serialised ``DocListProto``, as jina sends) is read too.
"""

from __future__ import annotations

import functools
import random
import traceback
import types
import typing
from collections.abc import Mapping
from typing import Any

from docarray import BaseDoc, DocList
from docarray.base_doc import AnyDoc
from docarray.proto import DocListProto
from docarray.typing import ID
from google.protobuf import json_format, struct_pb2
from pydantic import BaseModel, TypeAdapter

from devkit.errors import ExecutorError, ExecutorUnreachableError
from devkit.proto import jina_pb2

__all__ = [
    "JSON_MARKER",
    "DataRequestProto",
    "error_status",
    "exception_from_status",
    "json_safe",
    "new_request",
    "parameters_of",
    "read_docs",
    "set_parameters",
    "write_docs",
]

DataRequestProto = jina_pb2.DataRequestProto
StatusProto = jina_pb2.StatusProto

#: Prefix of JSON-encoded documents in ``docs_bytes``. Byte 0 is an invalid protobuf tag,
#: so a peer that expects ``DocListProto`` fails loudly instead of misreading the data.
JSON_MARKER = b"\x00dk-json\x00"

RESULTS_KEY = "__results__"

_PLAIN = (str, int, float, bool, type(None))


def doclist_class(value: Any) -> type[DocList[Any]] | None:
    """The DocList class behind ``value`` (``DocList[X]`` may be a typing alias), else None."""
    candidate = typing.get_origin(value) or value
    if isinstance(candidate, type) and issubclass(candidate, DocList):
        return candidate
    return None


@functools.cache
def json_safe(schema: type[BaseDoc]) -> bool:
    """Whether JSON round-trips every field of ``schema`` exactly (no tensors, bytes, Any)."""
    if not issubclass(schema, BaseDoc) or issubclass(schema, AnyDoc):
        return False
    return all(_plain_annotation(field.annotation) for field in schema.model_fields.values())


def _plain_annotation(annotation: Any) -> bool:
    if annotation in _PLAIN or annotation is ID:  # ID is a str: every document's ``id`` field
        return True
    doclist = doclist_class(annotation)
    if doclist is not None:
        doc_type = getattr(doclist, "doc_type", None)
        return isinstance(doc_type, type) and issubclass(doc_type, BaseDoc) and json_safe(doc_type)
    if isinstance(annotation, type):
        if issubclass(annotation, BaseDoc):
            return json_safe(annotation)
        return False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, dict, tuple):
        return all(_plain_annotation(arg) for arg in typing.get_args(annotation) if arg is not Ellipsis)
    return False


def new_request_id() -> str:
    """A random UUID-4 in hex, as jina's ids; ``uuid.uuid4()`` reads the OS's entropy source on
    every call (a syscall, ~7 us in a sandbox), and request ids need uniqueness, not secrecy."""
    bits = random.getrandbits(128)
    bits = (bits & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    return f"{bits:032x}"


@functools.cache
def _list_adapter(schema: type[BaseDoc]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[schema])  # type: ignore[valid-type]


def new_request(
    endpoint: str,
    docs: DocList[Any] | None = None,
    parameters: Mapping[str, Any] | BaseModel | None = None,
    *,
    target_executor: str | None = None,
    request_id: str | None = None,
    use_json: bool = False,
) -> jina_pb2.DataRequestProto:
    request = jina_pb2.DataRequestProto()
    header = request.header
    header.request_id = request_id or new_request_id()
    header.exec_endpoint = endpoint
    if target_executor:
        header.target_executor = target_executor
    if parameters:
        set_parameters(request, parameters)
    write_docs(request, docs if docs is not None else DocList[AnyDoc](), use_json=use_json)
    return request


def write_docs(request: jina_pb2.DataRequestProto, docs: DocList[Any], *, use_json: bool = False) -> None:
    """Put ``docs`` into ``request`` as JSON when allowed and exact, else as ``DocListProto``."""
    schema = getattr(docs, "doc_type", AnyDoc)
    if use_json and json_safe(schema):
        request.data.docs_bytes = JSON_MARKER + _list_adapter(schema).dump_json(list(docs))
    else:
        request.data.docs.CopyFrom(docs.to_protobuf())


def carries_json(request: jina_pb2.DataRequestProto) -> bool:
    data = request.data
    return data.WhichOneof("documents") == "docs_bytes" and data.docs_bytes.startswith(JSON_MARKER)


def read_docs(request: jina_pb2.DataRequestProto, doclist_type: type[DocList[Any]]) -> DocList[Any]:
    """The request's documents as ``doclist_type`` (``DocList[Schema]``); validates them."""
    data = request.data
    kind = data.WhichOneof("documents")
    if kind is None:
        return doclist_type()
    if kind == "docs_bytes":
        raw = data.docs_bytes
        if raw.startswith(JSON_MARKER):
            schema = doclist_type.doc_type
            adapter = _list_adapter(schema)
            # validate_json already built validated ``schema`` instances: skip DocList's re-check
            return doclist_type.construct(adapter.validate_json(raw[len(JSON_MARKER) :]))
        return doclist_type.from_protobuf(DocListProto.FromString(raw))
    return doclist_type.from_protobuf(data.docs)


def doc_count(request: jina_pb2.DataRequestProto) -> int:
    """How many documents a request carries, without decoding them when avoidable."""
    data = request.data
    kind = data.WhichOneof("documents")
    if kind == "docs":
        return len(data.docs.docs)
    if kind == "docs_bytes":
        if data.docs_bytes.startswith(JSON_MARKER):
            return len(read_docs(request, DocList[AnyDoc]))
        return len(DocListProto.FromString(data.docs_bytes).docs)
    return 0


def parameters_of(request: jina_pb2.DataRequestProto) -> dict[str, Any]:
    if not request.HasField("parameters"):
        return {}
    return json_format.MessageToDict(request.parameters)


def set_parameters(request: jina_pb2.DataRequestProto, parameters: Mapping[str, Any] | BaseModel) -> None:
    if isinstance(parameters, BaseModel):
        parameters = parameters.model_dump(mode="json")
    struct = struct_pb2.Struct()
    try:
        struct.update(dict(parameters))
    except (ValueError, TypeError) as exc:
        raise TypeError(
            f"parameters must be JSON-like (str, numbers, bool, None, lists, dicts): {exc}"
        ) from exc
    request.parameters.CopyFrom(struct)


def _rendered(render: Any, value: Any) -> str:
    """``render(value)``; an exception whose ``__repr__``/``__str__`` raises is still described."""
    try:
        return str(render(value))
    except Exception as exc:
        return (
            f"<{type(value).__name__} that cannot be shown: {render.__name__}() raised {type(exc).__name__}>"
        )


def error_status(exc: BaseException, executor: str, status: StatusProto | None = None) -> StatusProto:
    """Describe ``exc`` raised by ``executor`` as jina does: repr, class, args, traceback."""
    status = status if status is not None else StatusProto()
    status.code = StatusProto.ERROR
    status.description = _rendered(repr, exc)
    status.exception.name = type(exc).__name__
    del status.exception.args[:]
    status.exception.args.extend(_rendered(str, arg) for arg in exc.args)
    del status.exception.stacks[:]
    status.exception.stacks.extend(traceback.format_exception(exc))
    status.exception.executor = executor
    return status


def exception_from_status(response: jina_pb2.DataRequestProto) -> ExecutorError | None:
    status = response.header.status
    if status.code != StatusProto.ERROR:
        return None
    unreachable = status.exception.name in ExecutorUnreachableError.REMOTE_NAMES
    return (ExecutorUnreachableError if unreachable else ExecutorError)(
        executor=status.exception.executor or "<unknown>",
        name=status.exception.name or "Error",
        description=status.description,
        stacks=list(status.exception.stacks),
        endpoint=response.header.exec_endpoint,
        response=response,
    )
