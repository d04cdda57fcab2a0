"""DataRequest protobufs: building them, reading and writing their documents and status.

Documents travel in one of two encodings inside ``DataRequestProto.data``:

* ``docs`` — docarray's ``DocListProto``: what jina peers speak. devkit reads it with its
  own faster reader (:func:`devkit.codec.read_doclist_proto`), which keeps empty arrays' dtype.
* ``docs_bytes`` starting with :data:`devkit.codec.MARKER` — devkit's binary codec, exact
  for every docarray type and about 10-50x cheaper each way. devkit uses it only towards
  peers known to be devkit, and falls back to ``DocListProto`` for a request holding a value
  the codec cannot carry (a torch tensor, a custom class). Plain ``docs_bytes`` (serialised
  ``DocListProto``, as jina sends) is read too.
"""

from __future__ import annotations

import random
import re
import traceback
import typing
from collections.abc import Mapping
from typing import Any

from docarray import DocList
from docarray.base_doc import AnyDoc
from docarray.proto import DocListProto
from google.protobuf import json_format, struct_pb2
from pydantic import BaseModel

from devkit import codec
from devkit.errors import ExecutorError, ExecutorUnreachableError, UnencodableDocumentError
from devkit.proto import jina_pb2

__all__ = [
    "DataRequestProto",
    "carries_codec",
    "doc_count",
    "error_status",
    "exception_from_status",
    "new_request",
    "parameters_of",
    "read_docs",
    "read_docs_and_codec",
    "set_parameters",
    "write_docs",
]

DataRequestProto = jina_pb2.DataRequestProto
StatusProto = jina_pb2.StatusProto

RESULTS_KEY = "__results__"


def doclist_class(value: Any) -> type[DocList[Any]] | None:
    """The DocList class behind ``value`` (``DocList[X]`` may be a typing alias), else None."""
    candidate = typing.get_origin(value) or value
    if isinstance(candidate, type) and issubclass(candidate, DocList):
        return candidate
    return None


def new_request_id() -> str:
    """A random UUID-4 in hex, as jina's ids; ``uuid.uuid4()`` reads the OS's entropy source on
    every call (a syscall, ~7 us in a sandbox), and request ids need uniqueness, not secrecy."""
    bits = random.getrandbits(128)
    bits = (bits & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    return f"{bits:032x}"


def new_request(
    endpoint: str,
    docs: DocList[Any] | None = None,
    parameters: Mapping[str, Any] | BaseModel | None = None,
    *,
    target_executor: str | None = None,
    request_id: str | None = None,
    devkit_peer: bool = False,
) -> jina_pb2.DataRequestProto:
    """A DataRequest; ``devkit_peer``: the receiver is known to be devkit (see :func:`write_docs`)."""
    request = jina_pb2.DataRequestProto()
    header = request.header
    header.request_id = request_id or new_request_id()
    header.exec_endpoint = endpoint
    if target_executor:
        header.target_executor = target_executor
    if parameters:
        set_parameters(request, parameters)
    write_docs(request, docs if docs is not None else DocList[AnyDoc](), devkit_peer=devkit_peer)
    return request


def write_docs(request: jina_pb2.DataRequestProto, docs: DocList[Any], *, devkit_peer: bool = False) -> None:
    """Put ``docs`` into ``request``: with devkit's codec for a devkit peer when it carries every
    value exactly, else (a jina peer, or a value the codec cannot carry) as ``DocListProto``."""
    if devkit_peer:
        try:
            request.data.docs_bytes = codec.encode_docs(docs)
            return
        except codec.Unrepresentable:
            pass  # this request goes as DocListProto, which docarray may still carry
    request.data.docs.CopyFrom(doclist_proto(docs))


_PROBLEM_FIELD = re.compile(r"Field `([^`]*)`")


def doclist_proto(docs: DocList[Any]) -> DocListProto:
    """``docs.to_protobuf()``; an int beyond protobuf's 32 bits (docarray's bare "Value out of
    range") is raised as :class:`UnencodableDocumentError` naming the field and the limit."""
    try:
        return docs.to_protobuf()
    except ValueError as exc:
        text = " ".join(str(arg) for arg in exc.args)
        if "Value out of range" not in text:
            raise
        field = _PROBLEM_FIELD.search(text)
        where = f"field {field.group(1)!r}" if field else "a field"
        raise UnencodableDocumentError(
            f"a document's {where} holds an integer outside the 32-bit range (-2**31 .. 2**31-1) "
            f"that docarray's DocListProto carries ({text}); jina peers read only DocListProto, "
            "so store the value as a float or a str, or send it to a devkit peer, whose codec "
            "carries any int"
        ) from exc


def carries_codec(request: jina_pb2.DataRequestProto) -> bool:
    """Whether ``request``'s documents are in devkit's codec (so its sender is devkit)."""
    data = request.data
    return data.WhichOneof("documents") == "docs_bytes" and data.docs_bytes.startswith(codec.MARKER)


def read_docs(request: jina_pb2.DataRequestProto, doclist_type: type[DocList[Any]]) -> DocList[Any]:
    """The request's documents as ``doclist_type`` (``DocList[Schema]``); validates them."""
    return read_docs_and_codec(request, doclist_type)[0]


def read_docs_and_codec(
    request: jina_pb2.DataRequestProto, doclist_type: type[DocList[Any]]
) -> tuple[DocList[Any], bool]:
    """:func:`read_docs`, and whether they were in devkit's codec (:func:`carries_codec`).

    One read of ``docs_bytes``: every read of a protobuf bytes field copies it (~85 us per
    1.5 MB), so asking :func:`carries_codec` first and then reading would copy it twice.
    """
    data = request.data
    kind = data.WhichOneof("documents")
    if kind is None:
        return doclist_type(), False
    if kind == "docs_bytes":
        raw = data.docs_bytes
        if raw.startswith(codec.MARKER):
            return codec.decode_docs(raw, doclist_type), True
        return codec.read_doclist_proto(DocListProto.FromString(raw), doclist_type), False
    return codec.read_doclist_proto(data.docs, doclist_type), False


def doc_count(request: jina_pb2.DataRequestProto) -> int:
    """How many documents a request carries, without decoding them."""
    data = request.data
    kind = data.WhichOneof("documents")
    if kind == "docs":
        return len(data.docs.docs)
    if kind == "docs_bytes":
        if data.docs_bytes.startswith(codec.MARKER):
            return codec.count_docs(data.docs_bytes)
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
