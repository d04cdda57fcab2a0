"""Typed HTTP routes from the Executors' endpoint schemas, and the OpenAPI document.

Endpoint discovery gives each endpoint's request, response and parameters schemas as JSON
Schema; docarray rebuilds a document class from each, which validates request bodies (a
document that does not fit is a 422 naming the field) and which the OpenAPI document
describes, field descriptions and examples included.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from docarray import BaseDoc
from docarray.base_doc import AnyDoc
from pydantic import BaseModel

from devkit.executor.decorators import DEFAULT_ENDPOINT
from devkit.spec.models import HttpOptions

__all__ = [
    "CRUD_ROUTES",
    "DEBUG_ROUTES",
    "EndpointModels",
    "Route",
    "endpoint_models",
    "openapi",
    "route_path",
]

DEBUG_ROUTES = ("/status", "/post")
CRUD_ROUTES = ("/index", "/search", "/update", "/delete")
_UNTYPED = ("AnyDoc", "UntypedDoc", "LegacyDocument")


@dataclass(frozen=True)
class EndpointModels:
    """An endpoint's document classes (AnyDoc where unknown) and raw JSON schemas."""

    input: type[BaseDoc] = AnyDoc
    output: type[BaseDoc] = AnyDoc
    parameters: type[BaseModel] | None = None
    is_generator: bool = False
    schemas: dict[str, Any] = field(default_factory=dict)  # input/output/parameters JSON schemas


@dataclass(frozen=True)
class Route:
    """One HTTP route onto an Executor endpoint."""

    path: str
    endpoint: str
    methods: tuple[str, ...] = ("POST",)
    summary: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()


def route_path(endpoint: str) -> str:
    """``/foo`` for endpoint ``/foo``; jina serves the default endpoint at ``/default``."""
    return "/default" if endpoint == DEFAULT_ENDPOINT else "/" + endpoint.strip("/")


@functools.cache
def _doc_class(name: str, schema_json: str) -> type[BaseDoc]:
    import json

    from docarray.utils.create_dynamic_doc_class import create_base_doc_from_schema

    return create_base_doc_from_schema(json.loads(schema_json), name)


def _model(part: dict[str, Any] | None) -> type[BaseDoc]:
    if not part or not part.get("model") or part.get("name") in _UNTYPED:
        return AnyDoc
    import json

    try:
        return _doc_class(str(part.get("name") or "Doc"), json.dumps(part["model"], sort_keys=True))
    except Exception:  # a schema docarray cannot rebuild: accept any document rather than fail
        return AnyDoc


def endpoint_models(schemas: dict[str, dict[str, Any]]) -> dict[str, EndpointModels]:
    models: dict[str, EndpointModels] = {}
    for endpoint, schema in schemas.items():
        parameters = schema.get("parameters") or {}
        parameters_model: type[BaseModel] | None = None
        if parameters.get("model"):
            parameters_model = _model(parameters)
        models[endpoint] = EndpointModels(
            input=_model(schema.get("input")),
            output=_model(schema.get("output")),
            parameters=parameters_model,
            is_generator=bool(schema.get("is_generator")),
            schemas=schema,
        )
    return models


# -- OpenAPI --------------------------------------------------------------------------------
def _hoist(schema: dict[str, Any] | None, components: dict[str, Any], fallback: str) -> dict[str, Any]:
    """Move ``$defs`` to ``components/schemas`` and return a reference to ``schema``."""
    if not schema:
        return {"type": "object", "additionalProperties": True}
    schema = dict(schema)
    for name, definition in (schema.pop("$defs", None) or {}).items():
        components.setdefault(name, _rewrite_refs(definition))
    name = str(schema.get("title") or fallback)
    components.setdefault(name, _rewrite_refs(schema))
    return {"$ref": f"#/components/schemas/{name}"}


def _rewrite_refs(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (
                v.replace("#/$defs/", "#/components/schemas/")
                if k == "$ref" and isinstance(v, str)
                else _rewrite_refs(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite_refs(v) for v in value]
    return value


_HEADER = {
    "type": "object",
    "properties": {
        "requestId": {"type": "string", "description": "Request ID (also accepted as request_id)"},
        "targetExecutor": {"type": "string", "description": "Regex of the Executors to call"},
    },
}
_STATUS = {
    "type": "object",
    "properties": {
        "code": {"type": "integer", "description": "0: success, 1: error"},
        "description": {"type": "string"},
        "exception": {"type": "object", "nullable": True},
    },
}


def _request_body(doc_ref: dict[str, Any], parameters: dict[str, Any], with_endpoint: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "data": {
            "description": "The documents, or one document",
            "anyOf": [{"type": "array", "items": doc_ref}, doc_ref],
        },
        "parameters": parameters,
        "header": _HEADER,
        "targetExecutor": {"type": "string", "description": "Regex of the Executors to call"},
    }
    required: list[str] = []
    if with_endpoint:
        properties["execEndpoint"] = {
            "type": "string",
            "description": "The Executor endpoint",
            "example": "/",
        }
        required.append("execEndpoint")
    body: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        body["required"] = required
    example: dict[str, Any] = {"data": [{"text": "hello world"}]}
    if with_endpoint:
        example["execEndpoint"] = "/"
    return {"required": True, "content": {"application/json": {"schema": body, "example": example}}}


def _response(doc_ref: dict[str, Any]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            "data": {"type": "array", "items": doc_ref},
            "parameters": {"type": "object"},
            "header": {
                "type": "object",
                "properties": {
                    "requestId": {"type": "string"},
                    "execEndpoint": {"type": "string"},
                    "targetExecutor": {"type": "string"},
                    "status": _STATUS,
                },
            },
            "routes": {"type": "array", "items": {"type": "object"}},
        },
    }
    return {
        "200": {
            "description": "The answer; an Executor's error is in header.status (code 1)",
            "content": {"application/json": {"schema": schema}},
        },
        "404": {"description": "No Executor serves the endpoint"},
        "422": {"description": "The body is not JSON or a document does not fit the schema"},
        "503": {"description": "An Executor cannot be reached"},
        "504": {"description": "An Executor did not answer within timeout_send"},
    }


def openapi(
    options: HttpOptions, routes: list[Route], models: dict[str, EndpointModels], debug: bool
) -> dict[str, Any]:
    """The OpenAPI 3 document of the gateway's routes."""
    from devkit.serve.info import devkit_version

    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    any_doc = {"type": "object", "additionalProperties": True}
    for route in routes:
        model = models.get(route.endpoint, EndpointModels())
        schemas = model.schemas
        in_ref = (
            _hoist((schemas.get("input") or {}).get("model"), components, "Input") if schemas else any_doc
        )
        out_ref = (
            _hoist((schemas.get("output") or {}).get("model"), components, "Output") if schemas else any_doc
        )
        params = (schemas.get("parameters") or {}) if schemas else {}
        params_ref = (
            _hoist(params.get("model"), components, "Parameters")
            if params.get("model")
            else {"type": "object"}
        )
        operation: dict[str, Any] = {
            "summary": route.summary or f"Endpoint {route.endpoint}",
            "tags": list(route.tags) or ["Executor endpoints"],
            "operationId": f"{route.path.strip('/') or 'root'}_{'_'.join(route.methods).lower()}",
        }
        if route.description:
            operation["description"] = route.description
        if model.is_generator:
            operation["summary"] = (
                route.summary or f"Streaming endpoint {route.endpoint} (Server-Sent Events)"
            )
            operation["parameters"] = [
                {"name": name, "in": "query", "schema": prop}
                for name, prop in ((schemas.get("input") or {}).get("model") or {})
                .get("properties", {})
                .items()
            ]
            operation["responses"] = {
                "200": {
                    "description": "One `update` event per document, then `end`",
                    "content": {"text/event-stream": {}},
                }
            }
            paths.setdefault(route.path, {})["get"] = operation
            continue
        operation["requestBody"] = _request_body(in_ref, params_ref, with_endpoint=False)
        operation["responses"] = _response(out_ref)
        for method in route.methods:
            paths.setdefault(route.path, {})[method.lower()] = operation
    if debug:
        post = {
            "summary": "Post a data request to any Executor endpoint (set execEndpoint)",
            "tags": ["Debug"],
            "operationId": "post",
            "requestBody": _request_body(any_doc, {"type": "object"}, with_endpoint=True),
            "responses": _response(any_doc),
        }
        paths["/post"] = {"post": post}
        paths["/status"] = {
            "get": {
                "summary": "Versions and environment of the service",
                "tags": ["Debug"],
                "responses": {"200": {"description": "jina and envs"}},
            }
        }
    paths["/"] = {
        "get": {
            "summary": "Health: {} when serving",
            "tags": ["Health"],
            "responses": {"200": {"description": "{}"}},
        }
    }
    paths["/dry_run"] = {
        "get": {
            "summary": "Whether every Executor can be reached",
            "tags": ["Health"],
            "responses": {
                "200": {"description": "a status", "content": {"application/json": {"schema": _STATUS}}}
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": options.title or "devkit service",
            "description": options.description
            or "Set `title` and `description` in `config_gateway` (or the gateway YAML) to describe this service.",
            "version": devkit_version(),
        },
        "paths": paths,
        "components": {"schemas": components},
    }
