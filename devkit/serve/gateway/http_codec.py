"""jina's JSON request and response bodies, to and from ``DataRequestProto``.

A body is ``{"data": [docs] | doc, "parameters": {}, "execEndpoint": "/x",
"targetExecutor": "", "requestId": "", "header": {...}}``; every key is accepted in
camelCase and in snake_case, at the top level or inside ``header``, as jina's clients send
either. Documents are validated against the endpoint's request schema, and a document
that does not fit is reported by the path of the field (``data[0].text``).
"""

from __future__ import annotations

import functools
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

import orjson
from docarray import BaseDoc, DocList
from docarray.base_doc import AnyDoc
from docarray.base_doc.io.json import orjson_dumps
from docarray.typing import ID
from google.protobuf import json_format
from pydantic import TypeAdapter, ValidationError

from devkit.proto import jina_pb2
from devkit.wire import new_request_id, read_docs, set_parameters, write_docs

__all__ = [
    "BadBody",
    "Body",
    "parse_body",
    "response_json",
    "status_dict",
    "validated_docs",
]

_ALIASES = {
    "execEndpoint": "exec_endpoint",
    "targetExecutor": "target_executor",
    "requestId": "request_id",
}


class BadBody(ValueError):
    """The body is not JSON, or not jina's request shape; the message names the field."""


class Body:
    """A parsed request body: the raw documents, and the header fields."""

    __slots__ = ("data", "exec_endpoint", "parameters", "request_id", "single", "target_executor")

    def __init__(self, raw: Mapping[str, Any], exec_endpoint: str | None) -> None:
        fields: dict[str, Any] = {}
        header = raw.get("header")
        if header is not None and not isinstance(header, Mapping):
            raise BadBody("header: must be an object")
        for source in (header or {}, raw):
            for key, value in source.items():
                fields[_ALIASES.get(key, key)] = value
        data = raw.get("data")
        if isinstance(data, Mapping) and isinstance(data.get("docs"), list):
            data = data["docs"]  # jina's older {"data": {"docs": [...]}} shape
        self.single = isinstance(data, Mapping)
        if data is None:
            data = []
        elif self.single:
            data = [data]
        elif not isinstance(data, list):
            raise BadBody(f"data: must be a list of documents or one document, got {type(data).__name__}")
        self.data: list[Any] = data
        parameters = raw.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise BadBody(f"parameters: must be an object, got {type(parameters).__name__}")
        self.parameters: Mapping[str, Any] = parameters or {}
        endpoint = exec_endpoint or fields.get("exec_endpoint")
        if not endpoint or not isinstance(endpoint, str):
            raise BadBody("execEndpoint: required on /post (the Executor endpoint to call, e.g. '/index')")
        self.exec_endpoint: str = endpoint
        self.target_executor: str = str(fields.get("target_executor") or "")
        self.request_id: str = str(fields.get("request_id") or "") or new_request_id()


def parse_body(raw: bytes, exec_endpoint: str | None = None) -> Body:
    """Parse a JSON body; ``exec_endpoint`` is the route's endpoint (None on ``/post``)."""
    if not raw.strip():
        payload: Any = {}
    else:
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadBody(f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, Mapping):
        raise BadBody(f"the body must be a JSON object, got {type(payload).__name__}")
    return Body(payload, exec_endpoint)


def _location(loc: tuple[int | str, ...], prefix: str) -> str:
    text = prefix
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def validation_message(exc: ValidationError, prefix: str) -> str:
    return "; ".join(f"{_location(tuple(e['loc']), prefix)}: {e['msg']}" for e in exc.errors()[:5])


@functools.cache
def _adapter(schema: type[BaseDoc]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[schema])  # type: ignore[valid-type]


_PLAIN = (str, int, float, bool, type(None))


@functools.cache
def plain_schema(schema: type[BaseDoc]) -> bool:
    """Whether pydantic's own JSON dump is exact for ``schema`` (no tensors, bytes or Any):
    then documents are written by pydantic-core, several times faster than per-document dumps."""
    if schema is AnyDoc or not issubclass(schema, BaseDoc):
        return False
    return all(_plain(field.annotation) for field in schema.model_fields.values())


def _plain(annotation: Any) -> bool:
    if annotation in _PLAIN or annotation is ID:
        return True
    if isinstance(annotation, type):
        return issubclass(annotation, BaseDoc) and plain_schema(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, dict, tuple):
        return all(_plain(arg) for arg in typing.get_args(annotation) if arg is not Ellipsis)
    return False


def validated_docs(data: list[Any], schema: type[BaseDoc]) -> DocList[Any]:
    """``data`` as ``DocList[schema]``; a document that does not fit raises :class:`BadBody`."""
    if not all(isinstance(doc, Mapping) for doc in data):
        index = next(i for i, doc in enumerate(data) if not isinstance(doc, Mapping))
        raise BadBody(f"data[{index}]: a document must be a JSON object, got {type(data[index]).__name__}")
    try:
        docs = _adapter(schema).validate_python(data)
    except ValidationError as exc:
        raise BadBody(validation_message(exc, "data")) from None
    return DocList[schema].construct(docs)  # type: ignore[valid-type]  # validated just above


def build_request(body: Body, docs: DocList[Any]) -> jina_pb2.DataRequestProto:
    request = jina_pb2.DataRequestProto()
    header = request.header
    header.request_id = body.request_id
    header.exec_endpoint = body.exec_endpoint
    if body.target_executor:
        header.target_executor = body.target_executor
    if body.parameters:
        try:
            set_parameters(request, body.parameters)
        except TypeError as exc:
            raise BadBody(f"parameters: {exc}") from None
    write_docs(request, docs, devkit_peer=True)  # the gateway's edges transcode for jina peers
    return request


def status_dict(status: jina_pb2.StatusProto) -> dict[str, Any]:
    """A status as jina's JSON shows it: ``{"code", "description", "exception"}``."""
    if status.code == jina_pb2.StatusProto.SUCCESS:
        return {"code": 0, "description": status.description, "exception": None}
    exception = status.exception
    return {
        "code": int(status.code),
        "description": status.description,
        "exception": {
            "name": exception.name,
            "args": list(exception.args),
            "stacks": list(exception.stacks),
            "executor": exception.executor,
        },
    }


def _plain_numbers(value: Any) -> Any:
    """protobuf's Struct stores every number as a double: give integral ones back as ints."""
    if isinstance(value, float) and value.is_integer() and math.isfinite(value) and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(v) for v in value]
    return value


def _route(route: jina_pb2.RouteProto) -> dict[str, Any]:
    entry: dict[str, Any] = {"executor": route.executor}
    if route.HasField("start_time"):
        entry["startTime"] = route.start_time.ToJsonString()
    if route.HasField("end_time"):
        entry["endTime"] = route.end_time.ToJsonString()
    if route.HasField("status") and route.status.code != jina_pb2.StatusProto.SUCCESS:
        entry["status"] = status_dict(route.status)
    return entry


def response_dict(
    response: jina_pb2.DataRequestProto, schema: type[BaseDoc] = AnyDoc, *, with_data: bool = True
) -> dict[str, Any]:
    header = response.header
    parameters = json_format.MessageToDict(response.parameters) if response.HasField("parameters") else {}
    result: dict[str, Any] = {
        "header": {
            "requestId": header.request_id,
            "execEndpoint": header.exec_endpoint,
            "targetExecutor": header.target_executor,
            "status": status_dict(header.status),
        },
        "parameters": _plain_numbers(parameters),
        "routes": [_route(route) for route in response.routes],
    }
    if with_data:
        result["data"] = [_jsonable(doc) for doc in read_docs(response, DocList[schema])]  # type: ignore[valid-type]
    return result


def _jsonable(value: Any) -> Any:
    """Schemaless documents (AnyDoc) cannot dump themselves: take their fields one by one."""
    if isinstance(value, AnyDoc):
        return {key: _jsonable(item) for key, item in value.__dict__.items()}
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], AnyDoc):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


def response_json(response: jina_pb2.DataRequestProto, schema: type[BaseDoc] = AnyDoc) -> bytes:
    """The response body: header, parameters, routes and the documents (tensors as lists)."""
    if not plain_schema(schema):
        return orjson_dumps(response_dict(response, schema))
    head = orjson.dumps(response_dict(response, schema, with_data=False))
    docs = _adapter(schema).dump_json(list(read_docs(response, DocList[schema])))  # type: ignore[valid-type]
    return head[:-1] + b',"data":' + docs + b"}"


def doc_json(doc: BaseDoc) -> bytes:
    return orjson_dumps(_jsonable(doc))
