"""HTTP and WebSocket gateways: latency and throughput next to gRPC and a bare uvicorn echo.

    python bench/http_gateway.py [--quick] [--jina-python PATH]

One Deployment (one Executor that upper-cases a text; process runtime) serves gRPC, HTTP
and WebSocket at once; the same JSON goes to a bare uvicorn + Starlette echo (bench/
http_echo.py, the floor), and, with --jina-python, to jina 3.34's HTTP gateway. Reported:
p50 of sequential 1-document requests (ms) and documents/second for requests of 100
documents, 4 in flight. Ratios against the echo from the same run are what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pathlib
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

import httpx
import orjson
from docarray import BaseDoc, DocList
from websockets.asyncio.client import connect

from devkit import Client, Deployment, Executor, requests

HERE = pathlib.Path(__file__).parent
TARGET = 1.5  # devkit HTTP within 1.5x of the bare echo


class TextDoc(BaseDoc):
    text: str = ""


class Upper(Executor):
    @requests
    def upper(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper()
        return docs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _body(count: int) -> bytes:
    return orjson.dumps({"data": [{"text": f"doc {i}"} for i in range(count)], "execEndpoint": "/"})


async def _latency(send: Callable[[], Awaitable[object]], n: int) -> float:
    for _ in range(20):
        await send()
    samples = []
    for _ in range(n):
        begin = time.perf_counter()
        await send()
        samples.append((time.perf_counter() - begin) * 1e3)
    return statistics.median(samples)


async def _throughput(
    send: Callable[[], Awaitable[object]], batches: int, size: int, inflight: int = 4
) -> float:
    queue = list(range(batches))

    async def worker() -> None:
        while queue:
            queue.pop()
            await send()

    begin = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    return batches * size / (time.perf_counter() - begin)


async def measure_http(url: str, n: int, batches: int, size: int) -> tuple[float, float]:
    one, many = _body(1), _body(size)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def send(body: bytes) -> None:
            response = await client.post("/post", content=body, headers={"Content-Type": "application/json"})
            response.raise_for_status()

        p50 = await _latency(lambda: send(one), n)
        docs = await _throughput(lambda: send(many), batches, size)
    return p50, docs


async def measure_websocket(url: str, n: int, batches: int, size: int) -> tuple[float, float]:
    one, many = _body(1).decode(), _body(size).decode()
    async with connect(url, subprotocols=["json"], max_size=None) as ws:  # type: ignore[list-item]

        async def send(body: str) -> None:
            await ws.send(body)
            await ws.recv()

        p50 = await _latency(lambda: send(one), n)
        begin = time.perf_counter()
        inflight = 4  # pipelined on the one connection
        sent = received = 0
        while received < batches:
            while sent < batches and sent - received < inflight:
                await ws.send(many)
                sent += 1
            await ws.recv()
            received += 1
        docs = batches * size / (time.perf_counter() - begin)
    return p50, docs


def measure_grpc(port: int, n: int, batches: int, size: int) -> tuple[float, float]:
    with Client(host=f"grpc://127.0.0.1:{port}") as client:
        one = TextDoc(text="doc 0")
        for _ in range(20):
            client.post("/", one)
        samples = []
        for _ in range(n):
            begin = time.perf_counter()
            client.post("/", one)
            samples.append((time.perf_counter() - begin) * 1e3)
        docs = DocList[TextDoc]([TextDoc(text=f"doc {i}") for i in range(batches * size)])
        begin = time.perf_counter()
        client.post("/", docs, request_size=size, prefetch=4)
        return statistics.median(samples), batches * size / (time.perf_counter() - begin)


def _serve(command: list[str], ready: str) -> subprocess.Popen[str]:
    """Start a server in its own process group (jina forks its gateway and Executors)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stdout is not None
    for line in process.stdout:
        if ready in line:
            return process
    _stop(process)
    raise SystemExit(f"{command[1]} did not start")


def _stop(process: subprocess.Popen[str]) -> None:
    """Stop the server and every process it started (its process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    finally:  # jina's Executor processes may outlive their parent: nothing of the group stays
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


JINA_HTTP = """
import os, sys
os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")
from docarray import BaseDoc, DocList
from jina import Deployment, Executor, requests
class TextDoc(BaseDoc):
    text: str = ""
class Upper(Executor):
    @requests
    def upper(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper()
        return docs
with Deployment(uses=Upper, protocol="http", port=int(sys.argv[1])) as dep:
    print("ready", flush=True)
    dep.block()
"""


async def measure_jina_default_route(url: str, n: int, batches: int, size: int) -> tuple[float, float]:
    """jina 3.34 serves no /post: its client posts to the endpoint's route (``/default``)."""
    one = orjson.dumps({"data": [{"text": "doc 0"}]})
    many = orjson.dumps({"data": [{"text": f"doc {i}"} for i in range(size)]})
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def send(body: bytes) -> None:
            response = await client.post(
                "/default", content=body, headers={"Content-Type": "application/json"}
            )
            response.raise_for_status()

        p50 = await _latency(lambda: send(one), n)
        docs = await _throughput(lambda: send(many), batches, size)
    return p50, docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jina-python", help="a Python with jina 3.34: also measure jina's HTTP gateway")
    args = parser.parse_args(argv)
    n, batches, size = (200, 50, 100) if args.quick else (1000, 200, 100)
    rows: dict[str, tuple[float, float]] = {}

    def echo_figures() -> tuple[float, float]:
        port = _free_port()
        echo = _serve([sys.executable, str(HERE / "http_echo.py"), str(port)], "ready")
        try:
            return asyncio.run(measure_http(f"http://127.0.0.1:{port}", n, batches, size))
        finally:
            _stop(echo)

    first = echo_figures()

    deployment = Deployment(uses=Upper, protocol=["grpc", "http", "websocket"], runtime="process", quiet=True)
    with deployment:
        ports = deployment.ports_by_protocol
        rows["devkit http"] = asyncio.run(measure_http(f"http://127.0.0.1:{ports['http']}", n, batches, size))
        rows["devkit websocket"] = asyncio.run(
            measure_websocket(f"ws://127.0.0.1:{ports['websocket']}/", n, batches, size)
        )
        rows["devkit grpc"] = measure_grpc(ports["grpc"], n, batches, size)

    if args.jina_python:
        port = _free_port()
        jina = _serve([args.jina_python, "-c", JINA_HTTP, str(port)], "ready")
        try:
            rows["jina 3.34 http"] = asyncio.run(
                measure_jina_default_route(f"http://127.0.0.1:{port}", n, batches, size)
            )
        finally:
            _stop(jina)

    last = echo_figures()  # measured before and after the rest: the better of the two is the floor
    rows = {"uvicorn+starlette echo": (min(first[0], last[0]), max(first[1], last[1])), **rows}
    floor_p50, floor_docs = rows["uvicorn+starlette echo"]
    print(f"{'':24} {'p50 ms':>8} {'x echo':>7} {'docs/s':>9} {'x echo':>7}")
    for name, (p50, docs) in rows.items():
        print(f"{name:24} {p50:8.2f} {p50 / floor_p50:7.2f} {docs:9.0f} {floor_docs / docs:7.2f}")
    http_p50, http_docs = rows["devkit http"]
    verdict = "within" if http_p50 / floor_p50 <= TARGET else "outside"
    print(f"devkit HTTP p50 is {http_p50 / floor_p50:.2f}x the bare echo ({verdict} the {TARGET}x target)")
    if "jina 3.34 http" in rows:
        print(f"devkit HTTP docs/s is {http_docs / rows['jina 3.34 http'][1]:.1f}x jina 3.34's HTTP gateway")
    print(
        json.dumps({name: {"p50_ms": round(p, 3), "docs_per_s": round(d)} for name, (p, d) in rows.items()})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
