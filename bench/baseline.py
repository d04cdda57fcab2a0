"""The floor: bare grpcio servers on loopback that echo (or relay) bytes, and a plain client.

The figures devkit is compared with come from here, measured in the same run, so the
ratios say what devkit adds on top of gRPC itself on this machine at this moment.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import grpc

UNARY = "/bench.Echo/Unary"
STREAM = "/bench.Echo/Stream"
_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.enable_http_proxy", 0),
    ("grpc.so_reuseport", 0),
]


def _identity(data: bytes) -> bytes:
    return data


def _echo_handlers() -> grpc.GenericRpcHandler:
    async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    async def stream(
        requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request

    return grpc.method_handlers_generic_handler(
        "bench.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary, _identity, _identity),
            "Stream": grpc.stream_stream_rpc_method_handler(stream, _identity, _identity),
        },
    )


def _relay_handlers(target: str) -> grpc.GenericRpcHandler:
    """Forward every message to ``target`` with a unary call, as a gateway forwards to a worker.

    The stream method answers messages concurrently, in completion order, like devkit's.
    """
    channel = grpc.aio.insecure_channel(target, options=_OPTIONS)
    forward = channel.unary_unary(UNARY, request_serializer=_identity, response_deserializer=_identity)

    async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return await forward(request)  # type: ignore[no-any-return]

    async def stream(
        requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        answers: asyncio.Queue[bytes | None] = asyncio.Queue()
        pending: set[asyncio.Task[None]] = set()

        async def one(request: bytes) -> None:
            answers.put_nowait(await forward(request))

        async def read() -> None:
            async for request in requests:
                task = asyncio.create_task(one(request))
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.gather(*list(pending))
            answers.put_nowait(None)

        reader = asyncio.create_task(read())
        while (answer := await answers.get()) is not None:
            yield answer
        await reader

    return grpc.method_handlers_generic_handler(
        "bench.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary, _identity, _identity),
            "Stream": grpc.stream_stream_rpc_method_handler(stream, _identity, _identity),
        },
    )


async def _serve(relay_to: str | None, on_ready: Callable[[int], None], stop: asyncio.Event) -> None:
    server = grpc.aio.server(options=_OPTIONS)
    server.add_generic_rpc_handlers((_relay_handlers(relay_to) if relay_to else _echo_handlers(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    on_ready(port)
    await stop.wait()
    await server.stop(0.5)


class _ThreadServer:
    """A bare server on its own event loop in a thread of this process (like runtime='thread')."""

    def __init__(self, relay_to: str | None) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._main, args=(relay_to,), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("baseline server did not start")

    def _main(self, relay_to: str | None) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            await _serve(relay_to, self._on_ready, self._stop)

        self._loop.run_until_complete(main())
        self._loop.close()

    def _on_ready(self, port: int) -> None:
        self.port = port
        self._ready.set()

    def close(self) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def _child(relay_to: str | None, conn: Connection) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        threading.Thread(
            target=lambda: (conn.recv(), loop.call_soon_threadsafe(stop.set)), daemon=True
        ).start()
        await _serve(relay_to, conn.send, stop)

    asyncio.run(main())


class _ProcessServer:
    """A bare server in a spawned child process (like runtime='process')."""

    def __init__(self, relay_to: str | None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_child, args=(relay_to, child), daemon=True)
        self._process.start()
        child.close()
        if not self._conn.poll(30):
            raise RuntimeError("baseline server process did not start")
        self.port = int(self._conn.recv())

    def close(self) -> None:
        self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


class Chain:
    """``depth`` relays in front of one echo server; ``depth=0`` is the echo server alone."""

    def __init__(self, runtime: str, depth: int = 0) -> None:
        kind = _ThreadServer if runtime == "thread" else _ProcessServer
        self._servers: list[Any] = [kind(None)]
        for _ in range(depth):
            self._servers.append(kind(f"127.0.0.1:{self._servers[-1].port}"))
        self.port: int = self._servers[-1].port

    def close(self) -> None:
        for server in reversed(self._servers):
            server.close()

    def __enter__(self) -> Chain:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass
class Figures:
    """One system's figures; latencies in milliseconds."""

    latencies_ms: list[float]
    docs_per_s: float
    startup_s: float | None = None
    stream_call_ms: list[float] | None = None  # baseline only: one bidi stream per request


def _timed(call: Callable[[], object], count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - start) * 1e3)
    return latencies


def measure(
    port: int,
    small: bytes,
    batch: bytes,
    *,
    requests: int,
    batches: int,
    docs_per_batch: int,
    startup_s: float,
) -> Figures:
    """Sequential unary calls with ``small`` (the fastest plain way to send one request, and
    what the floor is), the same over one bidi stream per call (for reference), then
    ``batches`` messages of ``batch`` over one bidi stream: the shapes devkit is measured with."""
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=_OPTIONS) as channel:
        unary = channel.unary_unary(UNARY, request_serializer=_identity, response_deserializer=_identity)
        stream = channel.stream_stream(STREAM, request_serializer=_identity, response_deserializer=_identity)
        for _ in range(20):  # warm up
            unary(small)
            list(stream(iter((small,))))
        latencies = _timed(lambda: unary(small), requests)
        per_stream = _timed(lambda: list(stream(iter((small,)))), max(50, requests // 4))
        list(stream(iter([batch] * 10)))

        def many() -> Iterator[bytes]:
            for _ in range(batches):
                yield batch

        start = time.perf_counter()
        received = sum(1 for _ in stream(many()))
        elapsed = time.perf_counter() - start
        assert received == batches
    return Figures(latencies, batches * docs_per_batch / elapsed, startup_s, per_stream)


def run(
    runtime: str, small: bytes, batch: bytes, *, depth: int, requests: int, batches: int, docs_per_batch: int
) -> Figures:
    start = time.perf_counter()
    with Chain(runtime, depth) as chain:
        startup = time.perf_counter() - start
        return measure(
            chain.port,
            small,
            batch,
            requests=requests,
            batches=batches,
            docs_per_batch=docs_per_batch,
            startup_s=startup,
        )
