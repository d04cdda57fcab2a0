"""The WebSocket transport: jina's ``bytes`` subprotocol on one persistent connection.

Each request is a serialised ``DataRequestProto`` sent as a binary message; each response
comes back the same way, matched to its request by id, so any number of posts share one
connection (one reader task dispatches the answers). A request the server could not serve
(an Executor's error, one that cannot be reached) is answered with its error status, as over
gRPC; if the connection itself closes, every request waiting on it fails with the server's
code and reason, and the next post opens a new connection.

A devkit gateway names itself in the handshake's answer (:data:`DEVKIT_HEADER`); requests to it
carry devkit's document codec, exact for every docarray value (an int beyond 32 bits too) and
cheaper, as over gRPC. A jina gateway gets docarray's ``DocListProto``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from docarray import BaseDoc, DocList
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from devkit.client.address import Address
from devkit.client.response import Response
from devkit.client.transport import ConnectionSettings, OutgoingRequest, Transport
from devkit.errors import BadRequestError, DevkitError, ServerUnavailableError
from devkit.proto import jina_pb2
from devkit.serve.info import DEVKIT_HEADER
from devkit.wire import new_request

__all__ = ["WebSocketClosed", "WebSocketTransport"]

BYTES = Subprotocol("bytes")
_OPEN_TIMEOUT = 10.0
_SENT = object()  # put in a post's queue once all its requests are sent


class WebSocketClosed(ConnectionError):
    """The server closed the connection while requests were waiting for answers."""

    def __init__(self, url: str, code: int | None, reason: str) -> None:
        super().__init__(
            f"{url} closed the WebSocket connection (code {code}): {reason or 'no reason given'}"
        )
        self.code = code
        self.reason = reason


def _closed(url: str, exc: ConnectionClosed | None) -> WebSocketClosed:
    frame = exc.rcvd if exc is not None else None
    return WebSocketClosed(url, frame.code if frame else None, frame.reason if frame else "")


def _encode(request: OutgoingRequest, devkit_peer: bool) -> bytes:
    proto = new_request(
        request.endpoint,
        request.docs,
        request.parameters,
        target_executor=request.target_executor,
        request_id=request.request_id,
        devkit_peer=devkit_peer,
    )
    return proto.SerializeToString()


class PostWindow:
    """One post's requests in flight on a connection: the sender puts each answer (or an error)
    in ``answers`` and ``_SENT`` after the last request; ``answered()`` yields them in order of
    arrival, at most ``window`` unanswered at a time (0: no bound)."""

    def __init__(self, url: str, window: int) -> None:
        self.url = url
        self.answers: asyncio.Queue[Any] = asyncio.Queue()
        self.sent = 0
        self._room = asyncio.Semaphore(window) if window > 0 else None

    async def send_all(
        self,
        conn: ClientConnection,
        requests: AsyncIterator[OutgoingRequest],
        devkit_peer: bool,
        before_send: Callable[[OutgoingRequest], None] | None = None,
    ) -> None:
        """Send every request (in devkit's codec to a ``devkit_peer``); a failure is the post's error."""
        try:
            async for request in requests:
                if self._room is not None:
                    await self._room.acquire()
                if before_send is not None:
                    before_send(request)
                self.sent += 1
                await conn.send(_encode(request, devkit_peer))
            self.answers.put_nowait(_SENT)
        except ConnectionClosed as exc:
            self.answers.put_nowait(_closed(self.url, exc))
        except Exception as exc:  # e.g. inputs that are not documents: the post's error
            self.answers.put_nowait(exc)

    async def answered(
        self, doclist_type: type[DocList[Any]], timeout: float | None
    ) -> AsyncGenerator[Response, None]:
        """Each answer until every sent request has one; an error put in the queue is raised."""
        received = 0
        all_sent = False
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while not (all_sent and received == self.sent):
            async with asyncio.timeout_at(deadline):
                item = await self.answers.get()
            if item is _SENT:
                all_sent = True
            elif isinstance(item, BaseException):
                raise item
            else:
                received += 1
                if self._room is not None:
                    self._room.release()
                yield Response(item, doclist_type)


class WebSocketTransport(Transport):
    """Streams requests over one WebSocket connection; reconnects after it closes."""

    streams = True

    def __init__(self, address: Address, settings: ConnectionSettings) -> None:
        super().__init__(address, settings)
        self.url = f"{'wss' if address.tls else 'ws'}://{address.target}/"
        self._conn: ClientConnection | None = None
        self._peer_is_devkit = False  # read from each connection's handshake
        self._reader: asyncio.Task[None] | None = None
        self._opening: asyncio.Lock | None = None
        self._waiting: dict[str, asyncio.Queue[Any]] = {}
        self._http: Transport | None = None

    # -- the connection --------------------------------------------------------------------
    async def _open(self) -> ClientConnection:
        return await connect(
            self.url,
            subprotocols=[BYTES],
            additional_headers=self.settings.metadata or None,
            max_size=None,
            open_timeout=_OPEN_TIMEOUT,
        )

    async def _connection(self) -> ClientConnection:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._conn is None:
                conn = await self._open()
                response = conn.response
                self._peer_is_devkit = response is not None and DEVKIT_HEADER in response.headers
                self._conn = conn
                self._reader = asyncio.ensure_future(self._read(conn))
            return self._conn

    async def _read(self, conn: ClientConnection) -> None:
        """Hand each answer to the post waiting for it; fail them all when the connection ends."""
        closed: ConnectionClosed | None = None
        try:
            async for message in conn:
                if isinstance(message, str):
                    continue  # the bytes subprotocol answers in bytes only
                proto = jina_pb2.DataRequestProto.FromString(message)
                waiter = self._waiting.pop(proto.header.request_id, None)
                if waiter is not None:
                    waiter.put_nowait(proto)
        except ConnectionClosed as exc:
            closed = exc
        finally:
            if self._conn is conn:
                self._conn = None
            if closed is None:
                with contextlib.suppress(Exception):
                    await conn.wait_closed()
                closed = ConnectionClosed(conn.protocol.close_rcvd, conn.protocol.close_sent)
            error = _closed(self.url, closed)
            for waiter in self._waiting.values():
                waiter.put_nowait(error)
            self._waiting.clear()

    @property
    def known_devkit_peer(self) -> bool:
        """True while connected to a devkit gateway (its handshake said so)."""
        return self._peer_is_devkit

    async def prepare(self) -> bool:
        """Connect; whether the server is devkit (and so reads devkit's document codec)."""
        await self._connection()
        return self._peer_is_devkit

    # -- requests --------------------------------------------------------------------------
    async def send_one(
        self, request: OutgoingRequest, doclist_type: type[DocList[Any]], timeout: float | None
    ) -> Response:
        conn = await self._connection()
        answer: asyncio.Queue[Any] = asyncio.Queue()
        self._waiting[request.request_id] = answer
        try:
            await conn.send(_encode(request, self._peer_is_devkit))
            async with asyncio.timeout(timeout):
                item = await answer.get()
        finally:
            self._waiting.pop(request.request_id, None)
        if isinstance(item, BaseException):
            raise item
        return Response(item, doclist_type)

    async def send_stream(
        self,
        requests: AsyncIterator[OutgoingRequest],
        doclist_type: type[DocList[Any]],
        window: int,
        timeout: float | None,
    ) -> AsyncGenerator[Response, None]:
        conn = await self._connection()
        post = PostWindow(self.url, window)
        ids: list[str] = []

        def register(request: OutgoingRequest) -> None:
            self._waiting[request.request_id] = post.answers
            ids.append(request.request_id)

        sender = asyncio.ensure_future(post.send_all(conn, requests, self._peer_is_devkit, register))
        try:
            async for response in post.answered(doclist_type, timeout):
                yield response
        finally:
            sender.cancel()
            for request_id in ids:
                self._waiting.pop(request_id, None)

    async def stream_doc(
        self, endpoint: str, doc: BaseDoc, schema: type[BaseDoc], timeout: float | None
    ) -> AsyncGenerator[BaseDoc, None]:
        """Streaming endpoints are read as Server-Sent Events from the same server."""
        async for item in self._http_side().stream_doc(endpoint, doc, schema, timeout):
            yield item

    def _http_side(self) -> Transport:
        if self._http is None:
            from devkit.client.http import HttpTransport

            self._http = HttpTransport(replace(self.address, protocol="http"), self.settings)
        return self._http

    # -- readiness -------------------------------------------------------------------------
    async def dry_run(self, timeout: float | None) -> bool:
        """``GET /dry_run`` on the same server, which jina's and devkit's WebSocket gateways
        both serve (jina's ``/dry_run`` socket drops its answer now and then)."""
        return await self._http_side().dry_run(timeout)

    async def is_ready(self, timeout: float) -> bool:
        try:
            return await self.dry_run(timeout)
        except Exception:
            return False

    # -- failures --------------------------------------------------------------------------
    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, InvalidStatus):
            return exc.response.status_code in (502, 503)
        if isinstance(exc, TimeoutError):
            return False
        return isinstance(exc, (OSError, ConnectionClosed, InvalidHandshake))

    def map_error(self, exc: BaseException) -> BaseException:
        if isinstance(exc, WebSocketClosed):
            return ServerUnavailableError(str(exc))
        if isinstance(exc, InvalidStatus):
            status = exc.response.status_code
            message = f"{self.url} refused the WebSocket connection with HTTP {status}"
            if status in (502, 503):
                return ServerUnavailableError(message)
            return BadRequestError(message) if 400 <= status < 500 else DevkitError(message)
        if isinstance(exc, TimeoutError):
            return TimeoutError(f"no answer from {self.url} before the timeout")
        if isinstance(exc, ConnectionClosed):
            return ServerUnavailableError(str(_closed(self.url, exc)))
        if isinstance(exc, (OSError, InvalidHandshake)):
            return ServerUnavailableError(f"cannot reach the server at {self.url}: {exc}")
        if self._http is not None:
            return self._http.map_error(exc)
        return exc

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
        if self._reader is not None:
            with contextlib.suppress(BaseException):
                await self._reader
            self._reader = None
        if self._http is not None:
            await self._http.close()
            self._http = None
