"""The gateway's WebSocket front-end: jina's ``json`` and ``bytes`` subprotocols over a GatewayCore.

One connection carries a stream of requests; their answers come back in request order,
each as soon as it and those before it are done. ``bytes`` messages are serialised
``DataRequestProto`` (jina's Python client; ``bytes(True)``, i.e. ``b"\\x00"``, ends the
input); ``json`` messages are the HTTP ``/post`` body (``{}`` ends the input) and answers
are the HTTP response body. A request that fails (an Executor's error or one that cannot be
reached or timed out, a body that does not validate) is answered with its error in the
header's status, naming the Executor and the cause, and the stream goes on: every request
is answered exactly once, as on the gRPC and HTTP front-ends.
The handshake's answer carries an ``x-devkit`` header: a devkit client then sends its ``bytes``
requests in devkit's document codec (as over gRPC), which the Flow answers in kind; a jina
client, not knowing the header, sends and gets ``DocListProto``.
``ws://host:port/dry_run`` answers one status; ``GET /``, ``/status`` and ``/dry_run``
work over plain HTTP too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from devkit.errors import BadRequestError
from devkit.proto import jina_pb2
from devkit.serve.answers import error_response
from devkit.serve.gateway import http_codec as codec
from devkit.serve.gateway.asgi import AsgiServer, start_asgi_server
from devkit.serve.gateway.core import GATEWAY_NODE, GatewayCore
from devkit.serve.gateway.http import HttpGateway
from devkit.serve.info import DEVKIT_HEADER, devkit_version
from devkit.serve.streaming import answer_stream
from devkit.spec.models import GatewaySpec

__all__ = ["WebSocketGateway", "start_websocket_front_end"]

log = logging.getLogger("devkit.gateway")

JSON, BYTES = "json", "bytes"
END_OF_INPUT = bytes(True)  # what jina's client sends after its last request
#: After a stream that carried an error, how long the gateway lets the client close first.
ERROR_LINGER_SECONDS = 1.0


class _Rejected:
    """A message that is not a valid request: answered with its error, in its place."""

    def __init__(self, answer: jina_pb2.DataRequestProto) -> None:
        self.answer = answer


class WebSocketGateway:
    def __init__(self, core: GatewayCore) -> None:
        self.core = core
        self.http = HttpGateway(core, _no_routes())

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                WebSocketRoute("/", self.stream),
                WebSocketRoute("/dry_run", self.dry_run_socket),
                Route("/", self.http.health, methods=["GET"]),
                Route("/status", self.http.status, methods=["GET"]),
                Route("/dry_run", self.http.dry_run, methods=["GET"]),
                *self._streaming_routes(),
            ]
        )

    def _streaming_routes(self) -> list[Route]:
        """Generator endpoints as Server-Sent Events, as on the HTTP port: a WebSocket
        client's ``stream_doc`` reads them from the same server."""
        return [
            Route(route.path, self.http.stream_endpoint(route.endpoint), methods=["GET", "POST"])
            for route in self.http.routes
            if self.http._models_for(route.endpoint).is_generator
        ]

    @staticmethod
    async def _accept(websocket: WebSocket) -> str:
        requested = [
            p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()
        ]
        subprotocol = next((p for p in requested if p in (JSON, BYTES)), None)
        # a devkit client reads the header and sends its documents in devkit's codec; jina's ignores it
        await websocket.accept(subprotocol=subprotocol, headers=_handshake_headers())
        return subprotocol or JSON  # jina's default when the client names none

    async def dry_run_socket(self, websocket: WebSocket) -> None:
        subprotocol = await self._accept(websocket)
        status = await self.core.dry_run()
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            if subprotocol == BYTES:
                await websocket.send_bytes(status.SerializeToString())
            else:
                await websocket.send_text(orjson.dumps(codec.status_dict(status)).decode())
            await websocket.close()

    async def stream(self, websocket: WebSocket) -> None:
        subprotocol = await self._accept(websocket)
        respond = self._answer if self.http.tracer is None else self._traced_answer(websocket)
        answers = answer_stream(
            self._requests(websocket, subprotocol), respond, on_error=self._error, in_order=True
        )
        errored = False
        try:
            async for answer in answers:
                errored = errored or answer.header.status.code == jina_pb2.StatusProto.ERROR
                if subprotocol == BYTES:
                    await websocket.send_bytes(answer.SerializeToString())
                else:
                    await websocket.send_text(self._json_answer(answer).decode())
            if errored:
                await _let_client_close(websocket)
            await websocket.close()
        except (WebSocketDisconnect, RuntimeError):  # the client went away: nothing left to answer
            return
        finally:
            await answers.aclose()  # type: ignore[attr-defined]

    def _json_answer(self, answer: jina_pb2.DataRequestProto) -> bytes:
        """An answer as the HTTP gateway's body, documents read with the endpoint's response schema."""
        if answer.header.status.code == jina_pb2.StatusProto.ERROR:
            return codec.response_json(answer)
        schema = self.http._models_for(answer.header.exec_endpoint).output
        try:
            return codec.response_json(answer, schema)
        except (ValueError, TypeError):  # documents that do not fit the declared schema
            return codec.response_json(answer)

    async def _requests(self, websocket: WebSocket, subprotocol: str) -> AsyncIterator[Any]:
        while True:
            try:
                message = await websocket.receive()
            except RuntimeError:  # already disconnected
                return
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("bytes")
            text = message.get("text")
            if subprotocol == BYTES or (raw is not None and text is None):
                if raw is None:
                    raw = (text or "").encode()
                if raw == END_OF_INPUT:
                    return
                if raw == b"":
                    continue  # jina's dry-run probe on the wrong path: nothing to answer
                try:
                    yield jina_pb2.DataRequestProto.FromString(raw)
                except DecodeError as exc:
                    yield _Rejected(
                        _bad(jina_pb2.DataRequestProto(), f"the message is not a jina DataRequest: {exc}")
                    )
                continue
            try:
                payload = orjson.loads(text if text is not None else raw or b"")
            except orjson.JSONDecodeError as exc:
                yield _Rejected(_bad(jina_pb2.DataRequestProto(), f"the message is not valid JSON: {exc}"))
                continue
            if payload == {}:
                return  # jina's end of input in the json subprotocol
            yield self._json_request(payload)

    def _json_request(self, payload: Any) -> Any:
        try:
            if not isinstance(payload, dict):
                raise codec.BadBody(f"a message must be a JSON object, got {type(payload).__name__}")
            body = codec.Body(payload, None)
            models = self.http._models_for(body.exec_endpoint)
            docs = codec.validated_docs(body.data, models.input)
            return codec.build_request(body, docs)
        except codec.BadBody as exc:
            request = jina_pb2.DataRequestProto()
            if isinstance(payload, dict):
                request.header.request_id = str(payload.get("requestId") or payload.get("request_id") or "")
            return _Rejected(_bad(request, str(exc)))

    async def _answer(self, item: Any) -> jina_pb2.DataRequestProto:
        if isinstance(item, _Rejected):
            return item.answer
        return await self.core.post(item)

    def _traced_answer(self, websocket: WebSocket) -> Callable[[Any], Awaitable[jina_pb2.DataRequestProto]]:
        """``_answer`` in a SERVER span per request message, continuing the trace the
        connection was opened in (its handshake's ``traceparent``: jina's messages carry none)."""
        from devkit.observability.http_tracing import HttpTarget, mark_response, server_span

        tracer = self.http.tracer
        url = websocket.url
        target = HttpTarget(url.scheme, url.hostname, url.port, url.path)
        headers = dict(websocket.headers)
        fixed = {"network.protocol.name": "websocket"}
        if websocket.client is not None:
            fixed["client.address"] = websocket.client.host

        async def answer(item: Any) -> jina_pb2.DataRequestProto:
            more = dict(fixed)
            if isinstance(item, jina_pb2.DataRequestProto):
                more["jina.endpoint"] = item.header.exec_endpoint or "/"
                more["jina.request_id"] = item.header.request_id
            with server_span(tracer, "GET", url.path, target, headers, name=f"WS {url.path}", **more) as span:
                response = await self._answer(item)
                mark_response(span, response)
                return response

        return answer

    @staticmethod
    def _error(item: Any, exc: Exception) -> jina_pb2.DataRequestProto:
        request = item if isinstance(item, jina_pb2.DataRequestProto) else jina_pb2.DataRequestProto()
        return error_response(request, exc, GATEWAY_NODE)


async def _let_client_close(websocket: WebSocket) -> None:
    """Wait (bounded) for the client to close after its input ended.

    jina's client reads answers on one task and raises an Executor's error on another; when
    the server's close frame lands before the error is raised, the reading task ends first
    and jina's client returns without raising. Letting the client close first after a
    stream that carried an error makes the error reach the caller every time.
    """
    with contextlib.suppress(TimeoutError, RuntimeError, WebSocketDisconnect):
        async with asyncio.timeout(ERROR_LINGER_SECONDS):
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass


@functools.cache
def _handshake_headers() -> list[tuple[bytes, bytes]]:
    """Read once: the version comes from package metadata on disk."""
    return [(DEVKIT_HEADER.encode(), devkit_version().encode())]


def _bad(request: jina_pb2.DataRequestProto, message: str) -> jina_pb2.DataRequestProto:
    return error_response(request, BadRequestError(message), GATEWAY_NODE)


def _no_routes() -> Any:
    from devkit.spec.models import HttpOptions

    return HttpOptions(no_crud_endpoints=True)


async def start_websocket_front_end(core: GatewayCore, spec: GatewaySpec, port: int) -> AsgiServer:
    options = spec.http
    return await start_asgi_server(
        WebSocketGateway(core).app(),
        host=spec.host,
        port=port,
        what=f"gateway {spec.name!r} (websocket)",
        ssl_certfile=options.ssl_certfile,
        ssl_keyfile=options.ssl_keyfile,
        uvicorn_kwargs=options.uvicorn_kwargs,
    )
