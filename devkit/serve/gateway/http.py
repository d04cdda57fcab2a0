"""The gateway's HTTP front-end (Starlette on uvicorn): jina's REST API over a GatewayCore.

Routes: ``POST /post`` (any endpoint, named by ``execEndpoint``), one typed ``POST`` route
per Executor endpoint (``GET`` with Server-Sent Events for streaming endpoints), the CRUD
routes ``/index``, ``/search``, ``/update``, ``/delete``, ``GET /`` (health), ``/status``,
``/dry_run``, ``/openapi.json``, and the ``/docs`` and ``/redoc`` pages (assets served from
the installed package, never a CDN).

Status codes: an Executor's error is a 200 whose ``header.status`` carries it, as in jina;
a body that is not JSON or a document that does not fit the schema is a 422 naming the
field; an endpoint nobody serves is a 404 naming those served; an unreachable Executor a
503, one that missed ``timeout_send`` a 504. Anything unexpected is a 500 with a one-line
message, never a traceback.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from docarray import BaseDoc, DocList
from docarray.base_doc import AnyDoc
from google.protobuf import json_format
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route as StarletteRoute

from devkit.proto import jina_pb2
from devkit.serve.gateway import http_codec as codec
from devkit.serve.gateway.asgi import AsgiServer, start_asgi_server
from devkit.serve.gateway.core import GATEWAY_NODE, GatewayCore, NotStreamableError
from devkit.serve.gateway.docs_pages import docs_routes
from devkit.serve.gateway.http_schemas import (
    CRUD_ROUTES,
    EndpointModels,
    Route,
    endpoint_models,
    openapi,
    route_path,
)
from devkit.serve.hop_timing import report_front_end_decode
from devkit.spec.models import GatewaySpec, HttpOptions

__all__ = ["HttpGateway", "start_http_front_end"]

log = logging.getLogger("devkit.gateway")

#: exception names in a status that mean "the Executor could not be reached" / "was too slow"
UNREACHABLE = frozenset({"ExecutorUnavailableError"})
TIMED_OUT = frozenset({"ExecutorTimeoutError"})
#: ... and "the request itself is invalid" (found by the core, not by the HTTP layer)
BAD_INPUT = frozenset({"InvalidTargetExecutorError", "BadRequestError"})
_RESERVED = {"/", "/post", "/status", "/dry_run", "/docs", "/redoc", "/openapi.json"}


def json_response(content: Any, status_code: int = 200) -> Response:
    body = content if isinstance(content, bytes) else orjson.dumps(content)
    return Response(body, status_code=status_code, media_type="application/json")


def error_response(status_code: int, detail: str) -> Response:
    return json_response({"detail": detail}, status_code)


class HttpGateway:
    """Builds the Starlette app of one gateway; every handler calls one core operation."""

    def __init__(self, core: GatewayCore, options: HttpOptions) -> None:
        self.core = core
        self.options = options
        #: the gateway's tracer (None: tracing off, and no data route is wrapped in a span)
        self.tracer: Any = None if core.telemetry is None else core.telemetry.tracer
        #: answers one request; when tracing, also marks the request's span with an Executor's error
        self._post: Callable[[jina_pb2.DataRequestProto], Awaitable[jina_pb2.DataRequestProto]] = core.post
        if self.tracer is not None:
            from devkit.observability.http_tracing import marking

            self._post = marking(core.post)
        self.models: dict[str, EndpointModels] = endpoint_models(core.endpoint_schemas())
        self.routes = self._routes()
        self._openapi: bytes | None = None

    # -- which routes -------------------------------------------------------------------------
    def _routes(self) -> list[Route]:
        routes: dict[str, Route] = {}
        for endpoint in self.core.endpoints():
            path = route_path(endpoint)
            if path not in _RESERVED:
                routes[path] = Route(path, endpoint)
        if not self.options.no_crud_endpoints:
            for path in CRUD_ROUTES:
                routes.setdefault(path, Route(path, path))
        for endpoint, settings in self.options.expose_endpoints.items():
            path = route_path(endpoint)
            methods = tuple(m.upper() for m in settings.get("methods") or ("POST",))
            routes[path] = Route(
                path,
                endpoint,
                methods=methods,
                summary=settings.get("summary"),
                description=settings.get("description"),
                tags=tuple(settings.get("tags") or ()),
            )
        return list(routes.values())

    def _models_for(self, endpoint: str) -> EndpointModels:
        from devkit.executor.decorators import DEFAULT_ENDPOINT

        return self.models.get(endpoint) or self.models.get(DEFAULT_ENDPOINT) or EndpointModels()

    # -- the app --------------------------------------------------------------------------------
    def app(self) -> Starlette:
        routes: list[StarletteRoute] = [
            StarletteRoute("/", self.health, methods=["GET"]),
            StarletteRoute("/dry_run", self.dry_run, methods=["GET"]),
            StarletteRoute("/openapi.json", self.openapi_json, methods=["GET"]),
            *docs_routes(self.options.title or "devkit service"),
        ]
        if not self.options.no_debug_endpoints:
            routes.append(StarletteRoute("/status", self.status, methods=["GET"]))
            routes.append(StarletteRoute("/post", self._traced("/post", self.post_any), methods=["POST"]))
        for route in self.routes:
            if self._models_for(route.endpoint).is_generator:
                handler = self.stream_endpoint(route.endpoint)
                routes.append(StarletteRoute(route.path, handler, methods=["GET", "POST"]))
            else:
                handler = self._traced(route.path, self.post_endpoint(route.endpoint))
                routes.append(StarletteRoute(route.path, handler, methods=list(route.methods)))
        middleware: list[Middleware] = []
        if self.options.cors:
            from starlette.middleware.cors import CORSMiddleware

            middleware.append(
                Middleware(
                    CORSMiddleware,
                    allow_origins=["*"],
                    allow_credentials=True,
                    allow_methods=["*"],
                    allow_headers=["*"],
                )
            )
        return Starlette(
            routes=routes,
            middleware=middleware,
            exception_handlers={404: self.not_found, 405: self.not_allowed, Exception: self.internal_error},
        )

    def _traced(
        self, route: str, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """A data route's handler, in a SERVER span per request when the gateway traces
        (health, status and the docs are not traced, as over gRPC)."""
        tracer = self.tracer
        if tracer is None:
            return handler
        from devkit.observability.http_tracing import HttpTarget, server_span, set_status_code

        async def traced(request: Request) -> Response:
            url = request.url
            target = HttpTarget(url.scheme, url.hostname, url.port, url.path)
            client = {"client.address": request.client.host} if request.client else {}
            with server_span(tracer, request.method, route, target, request.headers, **client) as span:
                response = await handler(request)
                set_status_code(span, response.status_code, server=True)
                return response

        return traced

    # -- handlers -------------------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        if not self.core.health():
            return error_response(503, "the gateway is not serving (starting or shutting down)")
        return json_response({})

    async def status(self, request: Request) -> Response:
        return json_response(json_format.MessageToDict(self.core.status()))

    async def dry_run(self, request: Request) -> Response:
        return json_response(codec.status_dict(await self.core.dry_run()))

    async def openapi_json(self, request: Request) -> Response:
        if self._openapi is None:
            document = openapi(self.options, self.routes, self.models, not self.options.no_debug_endpoints)
            self._openapi = orjson.dumps(document)
        return json_response(self._openapi)

    async def post_any(self, request: Request) -> Response:
        return await self._answer(await request.body(), None)

    def post_endpoint(self, endpoint: str) -> Callable[[Request], Awaitable[Response]]:
        async def post(request: Request) -> Response:
            return await self._answer(await request.body(), endpoint)

        return post

    async def _answer(self, raw: bytes, endpoint: str | None) -> Response:
        began = time.monotonic_ns()
        try:
            body = codec.parse_body(raw, endpoint)
            models = self._models_for(body.exec_endpoint)
            docs = _with_ids(codec.validated_docs(body.data, models.input))
            if models.parameters is not None and body.parameters:
                _validate_parameters(body.parameters, models.parameters)
            request = codec.build_request(body, docs)
        except codec.BadBody as exc:
            return error_response(422, str(exc))
        report_front_end_decode(request, began)  # only when a load generator asks
        response = await self._post(request)
        return self._respond(response, models.output)

    def _respond(self, response: jina_pb2.DataRequestProto, schema: type[BaseDoc]) -> Response:
        status = response.header.status
        code = 200
        if status.code == jina_pb2.StatusProto.ERROR:
            name = status.exception.name
            if name == "NoEndpointError":
                return error_response(
                    404, status.exception.args[0] if status.exception.args else status.description
                )
            if name in BAD_INPUT and status.exception.executor == GATEWAY_NODE:
                return error_response(
                    422, status.exception.args[0] if status.exception.args else status.description
                )
            code = 504 if name in TIMED_OUT else 503 if name in UNREACHABLE else 200
            schema = AnyDoc  # the documents of a failed request are the ones sent
        try:
            return json_response(codec.response_json(response, schema), code)
        except (ValidationError, ValueError, TypeError):  # the answer does not fit the declared schema
            return json_response(codec.response_json(response, AnyDoc), code)

    def stream_endpoint(self, endpoint: str) -> Callable[[Request], Awaitable[Response]]:
        """A streaming endpoint as Server-Sent Events: one ``update`` per document, then ``end``."""

        async def stream(request: Request) -> Response:
            models = self._models_for(endpoint)
            try:
                raw = await request.body()
                fields = orjson.loads(raw) if raw.strip() else dict(request.query_params)
                if not isinstance(fields, dict):
                    raise codec.BadBody("the body must be one document as a JSON object")
                (doc,) = codec.validated_docs([fields], models.input)
            except orjson.JSONDecodeError as exc:
                return error_response(422, f"the body is not valid JSON: {exc}")
            except codec.BadBody as exc:
                return error_response(422, str(exc).replace("data[0]", "document"))
            single = jina_pb2.SingleDocumentRequestProto()
            single.header.request_id = codec.new_request_id()
            single.header.exec_endpoint = endpoint
            single.document.CopyFrom(_with_ids(DocList[models.input]([doc]))[0].to_protobuf())  # type: ignore[name-defined]
            try:
                replies = self.core.stream_doc(single)
            except NotStreamableError as exc:
                return error_response(404, str(exc))
            return StreamingResponse(_events(replies, models.output), media_type="text/event-stream")

        return stream

    async def not_found(self, request: Request, exc: Exception) -> Response:
        served = sorted(route.path for route in self.routes)
        return error_response(
            404,
            f"no route {request.url.path!r}; this gateway serves POST /post (any endpoint, set execEndpoint)"
            + (f" and {', '.join(served)}" if served else "")
            + "; see /docs",
        )

    async def not_allowed(self, request: Request, exc: Exception) -> Response:
        return error_response(405, f"{request.method} is not allowed on {request.url.path!r}; see /docs")

    async def internal_error(self, request: Request, exc: Exception) -> Response:
        log.exception("HTTP gateway failed on %s %s", request.method, request.url.path)
        return error_response(500, f"internal gateway error: {type(exc).__name__}: {exc}")


def _validate_parameters(parameters: Any, model: type[Any]) -> None:
    try:
        model.model_validate(parameters)
    except ValidationError as exc:
        raise codec.BadBody(codec.validation_message(exc, "parameters")) from None


def _with_ids(docs: DocList[Any]) -> DocList[Any]:
    """Rebuilt document classes default ``id`` to None: give such documents an id, as docarray."""
    for doc in docs:
        if getattr(doc, "id", "") is None:
            doc.id = os.urandom(16).hex()
    return docs


async def _events(replies: AsyncIterator[Any], schema: type[BaseDoc]) -> AsyncIterator[bytes]:
    try:
        async for reply in replies:
            if reply.header.status.code == jina_pb2.StatusProto.ERROR:
                error = codec.status_dict(reply.header.status)
                yield b"event: error\r\ndata: " + orjson.dumps(error) + b"\r\n\r\n"
                return
            doc = schema.from_protobuf(reply.document)
            yield b"event: update\r\ndata: " + codec.doc_json(doc) + b"\r\n\r\n"
    except Exception as exc:  # the Executor became unreachable mid-stream: say so, then end
        error = {"code": 1, "description": f"{type(exc).__name__}: {exc}", "exception": None}
        yield b"event: error\r\ndata: " + orjson.dumps(error) + b"\r\n\r\n"
        return
    yield b"event: end\r\ndata: \r\n\r\n"


async def start_http_front_end(core: GatewayCore, spec: GatewaySpec, port: int) -> AsgiServer:
    options = spec.http
    return await start_asgi_server(
        HttpGateway(core, options).app(),
        host=spec.host,
        port=port,
        what=f"gateway {spec.name!r} (http)",
        ssl_certfile=options.ssl_certfile,
        ssl_keyfile=options.ssl_keyfile,
        uvicorn_kwargs=options.uvicorn_kwargs,
    )
