"""The HTTP and WebSocket transports of a client that traces (``tracing=True``).

Chosen by ``open_transport`` only when the client has a tracer, as the gRPC client gets
its interceptors only then: an untraced client never imports this module.

HTTP: a CLIENT span per request (``POST /post``), its context in the ``traceparent``
header. WebSocket: jina's messages have no room for a context, so a traced post opens its
own connection with the post's ``traceparent`` in the handshake headers and sends its
requests on it; the gateway answers each message in a SERVER span continuing that trace.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from docarray import DocList
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from devkit.client.http import HttpTransport, request_body
from devkit.client.response import Response
from devkit.client.transport import OutgoingRequest
from devkit.client.websocket import BYTES, PostWindow, WebSocketTransport, _closed
from devkit.observability.http_tracing import (
    HttpTarget,
    inject,
    mark_response,
    record_failure,
    set_status_code,
    start_client_span,
)
from devkit.proto import jina_pb2
from devkit.serve.info import DEVKIT_HEADER

__all__ = ["TracedHttpTransport", "TracedWebSocketTransport"]

_OPEN_TIMEOUT = 10.0


class TracedHttpTransport(HttpTransport):
    """:class:`HttpTransport` with a CLIENT span around each request."""

    async def send_one(
        self, request: OutgoingRequest, doclist_type: type[DocList[Any]], timeout: float | None
    ) -> Response:
        route = self.route(request.endpoint)
        url = self.base_url + route
        target = HttpTarget(self.base_url.split(":", 1)[0], self.address.host, self.address.port, route)
        span = start_client_span(
            self.settings.tracer, "POST", route, url, target, **{"jina.endpoint": request.endpoint}
        )
        try:
            headers = inject({"Content-Type": "application/json"}, span)
            answer = await self.http.post(
                route,
                content=request_body(request, generic=route == "/post"),
                headers=headers,
                timeout=timeout,
            )
            set_status_code(span, answer.status_code, server=False)
            response = self.decode(route, request, answer, doclist_type)
            mark_response(span, response.proto)
            return response
        except BaseException as exc:
            record_failure(span, exc)
            raise
        finally:
            span.end()


class TracedWebSocketTransport(WebSocketTransport):
    """:class:`WebSocketTransport` whose posts each open a connection in their CLIENT span."""

    async def send_one(
        self, request: OutgoingRequest, doclist_type: type[DocList[Any]], timeout: float | None
    ) -> Response:
        async def one() -> AsyncIterator[OutgoingRequest]:
            yield request

        answers = self.send_stream(one(), doclist_type, 0, timeout)
        async with contextlib.aclosing(answers):
            async for response in answers:
                return response
        raise ConnectionError(f"{self.url} answered nothing to request {request.request_id}")

    async def send_stream(
        self,
        requests: AsyncIterator[OutgoingRequest],
        doclist_type: type[DocList[Any]],
        window: int,
        timeout: float | None,
    ) -> AsyncGenerator[Response, None]:
        target = HttpTarget(self.url.split(":", 1)[0], self.address.host, self.address.port, "/")
        span = start_client_span(
            self.settings.tracer,
            "GET",
            "/",
            self.url,
            target,
            name="WS /",
            **{"network.protocol.name": "websocket"},
        )
        try:
            headers = inject(dict(self.settings.metadata), span)
            conn = await connect(
                self.url,
                subprotocols=[BYTES],
                additional_headers=headers,
                max_size=None,
                open_timeout=_OPEN_TIMEOUT,
            )
            devkit_peer = conn.response is not None and DEVKIT_HEADER in conn.response.headers
            try:
                async for response in self._exchange(
                    conn, devkit_peer, requests, doclist_type, window, timeout
                ):
                    mark_response(span, response.proto)
                    yield response
            finally:
                await conn.close()
        except GeneratorExit:  # the caller stopped reading (an error answer raised): not a failure
            raise
        except BaseException as exc:
            record_failure(span, exc)
            raise
        finally:
            span.end()

    async def _exchange(
        self,
        conn: ClientConnection,
        devkit_peer: bool,
        requests: AsyncIterator[OutgoingRequest],
        doclist_type: type[DocList[Any]],
        window: int,
        timeout: float | None,
    ) -> AsyncGenerator[Response, None]:
        """Send every request on ``conn`` (in devkit's document codec to a ``devkit_peer``) and
        yield their answers: the connection is this post's alone, so every answer is one of them."""
        post = PostWindow(self.url, window)

        async def read_all() -> None:
            closed: ConnectionClosed | None = None
            try:
                async for message in conn:
                    if isinstance(message, bytes):
                        post.answers.put_nowait(jina_pb2.DataRequestProto.FromString(message))
            except ConnectionClosed as exc:
                closed = exc
            post.answers.put_nowait(_closed(self.url, closed))

        sender = asyncio.ensure_future(post.send_all(conn, requests, devkit_peer))
        reader = asyncio.ensure_future(read_all())
        try:
            async for response in post.answered(doclist_type, timeout):
                yield response
        finally:
            sender.cancel()
            reader.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(sender, reader, return_exceptions=True)
