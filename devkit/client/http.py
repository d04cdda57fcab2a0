"""The HTTP transport: jina's JSON over one pooled ``httpx`` connection pool per client.

A devkit gateway serves ``POST /post`` for every endpoint (the documented form); jina
3.34 serves only one route per Executor endpoint (``POST /foo``, ``/default``), so the
routes a server offers are read once from its ``/openapi.json`` and each request goes to
``/post`` when it is there, else to the endpoint's own route, as jina's client does.
Executor errors come back in ``header.status`` (devkit, HTTP 200) or as a 500 whose
``detail`` is the error (jina 3.34); both become an error :class:`Response`.
"""

from __future__ import annotations

import functools
import re
import socket
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx
import orjson
from docarray import BaseDoc, DocList
from google.protobuf import json_format
from pydantic import BaseModel, TypeAdapter, ValidationError

from devkit.client.address import Address
from devkit.client.jsonio import docs_json, dumps
from devkit.client.response import Response
from devkit.client.transport import ConnectionSettings, OutgoingRequest, Transport
from devkit.errors import BadRequestError, DevkitError, ExecutorError, ServerUnavailableError
from devkit.proto import jina_pb2

__all__ = ["HttpStatusError", "HttpTransport", "decode_response"]

_SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
_POOL = 32  # connections kept open per client; requests beyond it wait for a free one
_REPR = re.compile(r"^(\w+)\(")
_JSON = {"Content-Type": "application/json"}


class HttpStatusError(Exception):
    """A non-2xx answer that is not an Executor error (404, 422, 503, 504, ...)."""

    def __init__(self, status: int, url: str, message: str) -> None:
        super().__init__(f"{url} answered HTTP {status}: {message}")
        self.status = status
        self.url = url
        self.message = message


@functools.cache
def _docs_adapter(schema: type[BaseDoc]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[schema])  # type: ignore[valid-type]


def request_body(request: OutgoingRequest, *, generic: bool) -> bytes:
    """The JSON of ``request``: for ``/post`` (``generic``) the documented body with
    ``execEndpoint``/``targetExecutor``; for an endpoint's own route jina's, whose
    ``header`` carries the request id and target (snake_case, as jina 3.34 reads it)."""
    parameters = request.parameters
    if isinstance(parameters, BaseModel):
        parameters = parameters.model_dump(mode="json")
    body: dict[str, Any] = {}
    if parameters:
        body["parameters"] = parameters
    header: dict[str, Any] = {"request_id": request.request_id}
    if request.target_executor:
        header["target_executor"] = request.target_executor
    if generic:
        body["execEndpoint"] = request.endpoint
        if request.target_executor:
            body["targetExecutor"] = request.target_executor
    body["header"] = header
    data = docs_json(request.docs) if request.docs is not None else b"[]"
    return b'{"data":' + data + b"," + dumps(body)[1:]  # body always has a header


def _header_into(header: dict[str, Any], proto: jina_pb2.DataRequestProto) -> None:
    try:
        json_format.ParseDict(header, proto.header, ignore_unknown_fields=True)
    except json_format.ParseError:  # a field of an unexpected shape: keep what identifies the request
        proto.header.request_id = str(header.get("requestId") or header.get("request_id") or "")
        status = header.get("status") or {}
        if isinstance(status, dict) and status.get("code") in ("ERROR", 1):
            proto.header.status.code = jina_pb2.StatusProto.ERROR
            proto.header.status.description = str(status.get("description", ""))


def decode_response(
    body: dict[str, Any], request: OutgoingRequest, doclist_type: type[DocList[Any]]
) -> Response:
    """jina's response JSON (``header``, ``data``, ``parameters``, ``routes``) as a Response.

    Both spellings of the header fields are read (``requestId``/``request_id``); the
    request's id and endpoint fill in what the server left out.
    """
    proto = jina_pb2.DataRequestProto()
    header = body.get("header")
    if isinstance(header, dict):
        _header_into(header, proto)
    if not proto.header.request_id:
        proto.header.request_id = request.request_id
    if not proto.header.exec_endpoint:
        proto.header.exec_endpoint = request.endpoint
    for route in body.get("routes") or ():
        try:
            json_format.ParseDict(route, proto.routes.add(), ignore_unknown_fields=True)
        except json_format.ParseError:
            del proto.routes[-1]
    data = body.get("data")
    if isinstance(data, dict):  # docarray<0.30 shape: {"docs": [...]}
        data = data.get("docs")
    try:
        docs = doclist_type.construct(_docs_adapter(doclist_type.doc_type).validate_python(data or []))
    except ValidationError as exc:
        raise DevkitError(
            f"the server's documents for {request.endpoint} do not fit return_type="
            f"{doclist_type.__name__}: {exc}"
        ) from exc
    parameters = body.get("parameters")
    return Response(
        proto, doclist_type, docs=docs, parameters=parameters if isinstance(parameters, dict) else {}
    )


def executor_error_response(
    detail: str, request: OutgoingRequest, doclist_type: type[DocList[Any]]
) -> Response:
    """jina 3.34's HTTP 500 ``{"detail": "ValueError('...')"}`` as an error Response."""
    proto = jina_pb2.DataRequestProto()
    proto.header.request_id = request.request_id
    proto.header.exec_endpoint = request.endpoint
    status = proto.header.status
    status.code = jina_pb2.StatusProto.ERROR
    status.description = detail
    match = _REPR.match(detail)
    status.exception.name = match.group(1) if match else "Error"
    status.exception.args.append(detail)
    return Response(proto, doclist_type, docs=doclist_type(), parameters={})


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict):
        header = body.get("header")
        if isinstance(header, dict) and isinstance(header.get("status"), dict):
            description = header["status"].get("description")
            if description:
                return str(description)
        detail = body.get("detail", body)
        return detail if isinstance(detail, str) else orjson.dumps(detail).decode()
    return str(body)


class HttpTransport(Transport):
    """POSTs each request as JSON; reads streaming endpoints as Server-Sent Events."""

    streams = False

    def __init__(self, address: Address, settings: ConnectionSettings) -> None:
        super().__init__(address, settings)
        self.base_url = f"{'https' if address.tls else 'http'}://{address.target}"
        limits = httpx.Limits(max_connections=_POOL, max_keepalive_connections=_POOL)
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=settings.metadata,
            timeout=None,
            # without TCP_NODELAY the body, written after the headers, waits for the server's
            # delayed ACK (~40 ms per request on Linux)
            transport=httpx.AsyncHTTPTransport(limits=limits, socket_options=_SOCKET_OPTIONS),
        )
        self._post_routes: set[str] | None = None

    # -- routes ----------------------------------------------------------------------------
    async def prepare(self) -> bool:
        """Read the server's POST routes once; True when it serves ``/post`` (devkit)."""
        if self._post_routes is None:
            routes: set[str] = set()
            response = await self.http.get("/openapi.json", timeout=10.0)
            if response.status_code == 200:
                try:
                    paths = response.json().get("paths", {})
                    routes = {path for path, methods in paths.items() if "post" in methods}
                except (ValueError, AttributeError):
                    routes = set()
            self._post_routes = routes
        return self.serves_post

    @property
    def serves_post(self) -> bool:
        return "/post" in (self._post_routes or ())

    def route(self, endpoint: str) -> str:
        """Where a request for ``endpoint`` goes: ``/post`` when served, else jina's choice."""
        routes = self._post_routes or set()
        if self.serves_post:
            return "/post"
        if endpoint != "/" and endpoint in routes:
            return endpoint
        if "/default" in routes:
            return "/default"
        return "/post"

    # -- requests --------------------------------------------------------------------------
    async def send_one(
        self, request: OutgoingRequest, doclist_type: type[DocList[Any]], timeout: float | None
    ) -> Response:
        route = self.route(request.endpoint)
        answer = await self.http.post(
            route, content=request_body(request, generic=route == "/post"), headers=_JSON, timeout=timeout
        )
        return self.decode(route, request, answer, doclist_type)

    def decode(
        self,
        route: str,
        request: OutgoingRequest,
        response: httpx.Response,
        doclist_type: type[DocList[Any]],
    ) -> Response:
        """The request's :class:`Response` (an Executor's error too); other failures raise."""
        status = response.status_code
        if status == 200:
            return decode_response(orjson.loads(response.content), request, doclist_type)
        if status in (503, 504):
            # the gateway is up but an Executor is not (or too slow): when it says which,
            # that is the request's answer, as over gRPC (ExecutorUnreachableError)
            body = _json(response)
            if _has_error_status(body):
                return decode_response(body, request, doclist_type)
        if status == 500 and not self.serves_post:  # jina 3.34: an Executor error is a 500
            detail = _detail(response)
            if detail is not None:
                return executor_error_response(detail, request, doclist_type)
        if status == 404 and not self.serves_post:  # devkit names what it serves itself
            served = ", ".join(sorted(self._post_routes or ())) or "none listed"
            raise HttpStatusError(
                status, self.base_url + route, f"no route for {request.endpoint} (served: {served})"
            )
        raise HttpStatusError(status, self.base_url + route, _message(response))

    async def send_stream(
        self,
        requests: AsyncIterator[OutgoingRequest],
        doclist_type: type[DocList[Any]],
        window: int,
        timeout: float | None,
    ) -> AsyncGenerator[Response, None]:
        """HTTP has no request stream: the client sends each request with :meth:`send_one`."""
        async for request in requests:
            yield await self.send_one(request, doclist_type, timeout)

    async def stream_doc(
        self, endpoint: str, doc: BaseDoc, schema: type[BaseDoc], timeout: float | None
    ) -> AsyncGenerator[BaseDoc, None]:
        """``GET /endpoint`` with the document as JSON; one ``update`` event per document."""
        async with self.http.stream(
            "GET",
            endpoint,
            content=dumps(doc),
            headers={"Accept": "text/event-stream", "Content-Type": "application/json"},
            timeout=timeout,
        ) as response:
            if response.status_code != 200:
                await response.aread()
                raise HttpStatusError(response.status_code, self.base_url + endpoint, _message(response))
            async for event, data in _events(response):
                if event == "end":
                    return
                if event == "error":
                    raise _stream_error(data, endpoint)
                if event in ("update", "message") and data:
                    yield schema.model_validate(orjson.loads(data))

    # -- readiness -------------------------------------------------------------------------
    async def dry_run(self, timeout: float | None) -> bool:
        """``GET /dry_run``: a request through the whole Flow; True when it succeeded.

        A server without a gateway (jina's HTTP Deployment) has no ``/dry_run``: its
        health route ``GET /`` answers instead.
        """
        response = await self.http.get("/dry_run", timeout=timeout)
        if response.status_code == 404:
            response = await self.http.get("/", timeout=timeout)
            return response.status_code == 200
        if response.status_code != 200:
            raise HttpStatusError(response.status_code, self.base_url + "/dry_run", _message(response))
        code = response.json().get("code")
        return code in (0, "SUCCESS")

    async def is_ready(self, timeout: float) -> bool:
        try:
            return await self.dry_run(timeout)
        except (httpx.HTTPError, HttpStatusError, ValueError):
            return False

    # -- failures --------------------------------------------------------------------------
    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, HttpStatusError):
            return exc.status in (502, 503)
        return isinstance(exc, (httpx.TransportError, ConnectionError)) and not isinstance(
            exc, httpx.TimeoutException
        )

    def map_error(self, exc: BaseException) -> BaseException:
        where = self.base_url
        if isinstance(exc, HttpStatusError):
            if exc.status in (502, 503):
                return ServerUnavailableError(f"{exc.url} is unavailable (HTTP {exc.status}): {exc.message}")
            if exc.status == 504:
                return TimeoutError(f"{exc.url} timed out (HTTP 504): {exc.message}")
            if 400 <= exc.status < 500:
                return BadRequestError(f"{exc.url} rejected the request (HTTP {exc.status}): {exc.message}")
            return DevkitError(f"{exc.url} failed the call (HTTP {exc.status}): {exc.message}")
        if isinstance(exc, httpx.TimeoutException):
            return TimeoutError(f"no answer from {where} before the timeout ({type(exc).__name__})")
        if isinstance(exc, httpx.TransportError):
            return ServerUnavailableError(f"cannot reach the server at {where}: {exc!r}")
        return exc

    async def close(self) -> None:
        await self.http.aclose()


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


def _has_error_status(body: Any) -> bool:
    header = body.get("header") if isinstance(body, dict) else None
    status = header.get("status") if isinstance(header, dict) else None
    return isinstance(status, dict) and status.get("code") in (1, "ERROR") and bool(status.get("exception"))


def _detail(response: httpx.Response) -> str | None:
    """The ``detail`` string of a JSON error body (FastAPI's HTTPException), if any."""
    try:
        body = response.json()
    except ValueError:
        return None
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else None


def _stream_error(data: str, endpoint: str) -> ExecutorError:
    try:
        body = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError:
        body = {"description": data}
    status = body.get("header", {}).get("status", body) if isinstance(body, dict) else {}
    exception = status.get("exception") or {}
    return ExecutorError(
        executor=exception.get("executor") or "<unknown>",
        name=exception.get("name") or "Error",
        description=str(status.get("description") or data),
        stacks=list(exception.get("stacks") or ()),
        endpoint=endpoint,
    )


async def _events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """Server-Sent Events of ``response`` as (event, data) pairs."""
    event, data = "message", list[str]()
    async for line in response.aiter_lines():
        if not line:
            if data or event != "message":
                yield event, "\n".join(data)
            event, data = "message", list[str]()
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data or event != "message":
        yield event, "\n".join(data)
