"""The TCP layer: an asyncio proxy that passes bytes through the edge's toxics.

Each accepted connection opens one to the upstream address and runs a pipe per
direction. A pipe reads chunks as they come (stamping their arrival time) and a second
task delivers them through the toxics, so latency is added to each chunk instead of
accumulating, as Toxiproxy does.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from typing import Any

from devkit.orchestrate.addressing import Edge
from devkit.testing.faults.edge import Layer
from devkit.testing.faults.faults import Chunk, SlowClose, Toxic
from devkit.testing.faults.link import Link

__all__ = ["TcpConnection", "TcpLink", "reset_writer"]

_CHUNK = 64 * 1024


def reset_writer(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TcpConnection:
    """A client connection and its upstream twin; toxics act on it through this object."""

    def __init__(
        self,
        link: TcpLink,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.link = link
        self.rng = link.rng
        self.state: dict[int, Any] = {}
        self._client = client
        self._upstream = upstream
        self._timers: list[asyncio.TimerHandle] = []
        self._closed = asyncio.Event()

    # -- what toxics may do ---------------------------------------------------------------
    def reset(self) -> None:
        """Reset both sides now (the peers see 'connection reset by peer')."""
        reset_writer(self._client[1])
        reset_writer(self._upstream[1])
        self._closed.set()

    def close(self) -> None:
        """Close both sides with a FIN."""
        self._client[1].close()
        self._upstream[1].close()
        self._closed.set()

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        self._timers.append(asyncio.get_running_loop().call_later(delay, callback))

    # -- running --------------------------------------------------------------------------
    async def run(self) -> None:
        pipes = [
            asyncio.create_task(self._pipe("upstream", self._client[0], self._upstream[1])),
            asyncio.create_task(self._pipe("downstream", self._upstream[0], self._client[1])),
            asyncio.create_task(self._closed.wait()),
        ]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pipes:
                task.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            for timer in self._timers:
                timer.cancel()
            if not self._closed.is_set():
                self.close()

    async def _pipe(self, direction: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[Chunk | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def read() -> None:
            try:
                while data := await reader.read(_CHUNK):
                    queue.put_nowait(Chunk(data, loop.time()))
            except (ConnectionError, OSError):
                pass
            queue.put_nowait(None)

        reading = asyncio.create_task(read())
        try:
            while (chunk := await queue.get()) is not None:
                self.link.count(f"bytes_{'up' if direction == 'upstream' else 'down'}", len(chunk.data))
                passed = await self._through_toxics(direction, chunk)
                if passed is not None and passed.data and not writer.is_closing():
                    writer.write(passed.data)
                    await writer.drain()
            await self._slow_close()
        except (ConnectionError, OSError):
            pass
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)

    async def _through_toxics(self, direction: str, chunk: Chunk) -> Chunk | None:
        current: Chunk | None = chunk
        for toxic in self.link.faults_of(Toxic):
            if current is None:
                break
            if isinstance(toxic, SlowClose) or not toxic.applies_to(direction):
                continue
            if not toxic.take():
                continue
            self.link.injected(toxic)
            current = await toxic.apply(current, self)
        return current

    async def _slow_close(self) -> None:
        delays = [toxic for toxic in self.link.faults_of(SlowClose) if toxic.take()]
        for toxic in delays:
            self.link.injected(toxic)
        if delays:
            await asyncio.sleep(max(toxic.delay for toxic in delays))


class TcpLink(Link):
    """A TCP proxy for one edge."""

    layer: Layer = "tcp"

    def __init__(self, edge: Edge, upstream: str, seed: int) -> None:
        super().__init__(edge, upstream, seed)
        self._server: asyncio.Server | None = None
        self._connections: set[TcpConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.count("connections")
        partition = self.partition()
        if partition is not None:
            self.injected(partition)
            reset_writer(writer)
            return
        await self._forward(reader, writer)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """What a link does with a connection no partition cut: pipe its bytes through the toxics."""
        await self._pipe(reader, writer)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: bytes = b""
    ) -> None:
        """Connect upstream, send ``first`` (bytes already read from the client), pipe the rest."""
        host, _, port = self.upstream.rpartition(":")
        try:
            upstream = await asyncio.open_connection(host, int(port))
        except OSError:
            reset_writer(writer)  # as if the target refused: the caller sees the connection fail
            return
        if first:
            self.count("bytes_up", len(first))
            upstream[1].write(first)
        connection = TcpConnection(self, (reader, writer), upstream)
        self._connections.add(connection)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)

    def on_faults_changed(self) -> None:
        partition = self.partition()
        if partition is not None:
            for connection in list(self._connections):
                self.injected(partition)
                connection.reset()
        # a ResetPeer with no budget left or a removed toxic needs nothing here; new
        # toxics act on the next chunk of every open connection

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.reset()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
