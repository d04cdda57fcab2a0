"""The HTTP layer: a TCP proxy that reads each request's head and can answer it itself.

Built on the TCP layer (toxics such as latency and reset_peer act on its bytes too). For
every connection it reads the first request head; a data request (anything but the health,
readiness and docs routes) is numbered for the edge's :class:`HttpFail` faults, and one
that fires is answered with its status (``503`` ...) and the connection closed. Otherwise
the head is forwarded with ``Connection: close``, so each connection carries one request
and every request is judged, and the rest is piped as bytes. A WebSocket upgrade is
judged the same way (a 503 refuses the handshake) and then piped unchanged; an HTTP/2
preface (gRPC) passes through untouched.
"""

from __future__ import annotations

import asyncio
import http
import random
from dataclasses import dataclass

import orjson

from devkit.testing.faults.edge import Layer
from devkit.testing.faults.faults import HttpFail
from devkit.testing.faults.tcp import TcpLink

__all__ = ["HttpLink"]

#: Routes that are not data requests: health, readiness, schema and docs pages.
_CONTROL_PATHS = frozenset({"/", "/dry_run", "/status", "/openapi.json", "/docs", "/redoc"})
#: Longest request head read before giving up on judging it (then piped as bytes).
_HEAD_LIMIT = 64 * 1024


@dataclass(frozen=True)
class _Head:
    """A request line and its headers, as read from the client."""

    raw: bytes
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, raw: bytes) -> _Head:
        lines = raw.decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        target = rest.rpartition(" ")[0] or rest
        headers = tuple(
            (name.strip().lower(), value.strip())
            for name, sep, value in (line.partition(":") for line in lines[1:] if line)
            if sep
        )
        return cls(raw, method.upper(), target.split("?", 1)[0], headers)

    def header(self, name: str) -> str:
        return ", ".join(value for key, value in self.headers if key == name)

    @property
    def upgrade(self) -> bool:
        return "upgrade" in self.header("connection").lower()

    @property
    def is_data(self) -> bool:
        """A request faults count: not HTTP/2, not a health/docs route (a WebSocket upgrade is)."""
        if self.method == "PRI":
            return False
        return self.upgrade or self.path not in _CONTROL_PATHS

    def forwarded(self) -> bytes:
        """The head to send upstream: ``Connection: close`` unless it upgrades (or is HTTP/2)."""
        if self.upgrade or self.method == "PRI":
            return self.raw
        first, *lines = self.raw.decode("latin-1").split("\r\n")
        kept = [
            line
            for line in lines
            if line and line.partition(":")[0].strip().lower() not in ("connection", "keep-alive")
        ]
        return "\r\n".join([first, *kept, "Connection: close", "", ""]).encode("latin-1")


async def _read_body(reader: asyncio.StreamReader, head: _Head) -> None:
    """Read (and drop) the request body, so closing after an answer does not reset the peer."""
    if "chunked" in head.header("transfer-encoding").lower():
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return
            await reader.readexactly(size + 2)
    length = head.header("content-length")
    if length.isdigit():
        await reader.readexactly(int(length))


def _answer(status: int, details: str) -> bytes:
    body = orjson.dumps({"detail": details})
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:  # a status the standard library does not name (e.g. 599)
        phrase = "Error"
    return (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1") + body


class HttpLink(TcpLink):
    """An HTTP/1.1 (and WebSocket) proxy for one edge: status faults on requests, toxics on bytes."""

    layer: Layer = "http"

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raw = b""  # not HTTP as we know it: pipe it as bytes
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            writer.close()
            return
        head = _Head.parse(raw) if raw else None
        if head is not None and head.is_data:
            self.count("requests")
            fault = self._firing()
            if fault is not None:
                self.injected(fault, str(fault.status))
                try:
                    await _read_body(reader, head)
                    writer.write(_answer(fault.status, fault.details))
                    await writer.drain()
                except (asyncio.IncompleteReadError, ValueError, ConnectionError, OSError):
                    pass
                writer.close()
                return
        await self._pipe(reader, writer, head.forwarded() if head is not None else b"")

    def _firing(self) -> HttpFail | None:
        """The first status fault that fires on this request (each numbers it)."""
        for fault in self.faults_of(HttpFail):
            number = fault.next_number()
            when = fault.when
            if when is not None and not when.fires(number, random.Random(f"{fault.seed_key}/{number}")):
                continue
            if fault.take():
                return fault
        return None
