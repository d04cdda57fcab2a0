"""Handing data requests to a worker in this process without a gRPC leg.

On the thread runtime the gateway and its workers share a process, each on its own event
loop. A worker registers itself here under the loopback address it listens on; a gateway
edge whose address is such a worker's hands it the request directly: no HTTP/2 framing, no
socket, no gRPC completion queue. An edge with a fault configured dials the fault proxy's
address, which is no worker's, so it keeps the real socket and the fake network still means
what it says.

Semantics stay those of the gRPC call: the request passes the worker's drain gate (refused
while it stops: the caller then uses the socket, which answers UNAVAILABLE, and the usual
retry and ejection apply), runs through the same servicer method (errors become the
response's error status), sees the same deadline, and is cancelled when the caller gives
up. The worker gets its own parsed copy of the request (serialised once by the caller),
and the caller takes the response the worker built and forgets: no message is shared.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Sequence
from typing import Any

from devkit.proto import jina_pb2
from devkit.serve.drain import Gate

__all__ = ["LocalWorker", "NotDelivered", "WorkerDropped", "handed_over", "local_worker"]

_LOOPBACK = ("127.0.0.1", "localhost", "0.0.0.0", "::", "")

_registry: dict[int, LocalWorker] = {}
_lock = threading.Lock()


class NotDelivered(Exception):
    """The worker did not take the request (stopping or gone): send it over the socket instead."""


class WorkerDropped(ConnectionError):
    """The worker took the request and stopped without answering it (its drain grace ran out)."""


class _LocalContext:
    """What the servicer and the gate ask of a gRPC context, for an in-process call."""

    def __init__(self, timeout: float | None) -> None:
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    async def abort(self, code: Any, details: str) -> None:
        raise NotDelivered(details)


class LocalWorker:
    """One worker's servicer, reachable from other event loops of this process."""

    def __init__(self, servicer: Any, gate: Gate, host: str, port: int) -> None:
        self.port = port
        self._host = host
        self._loop = asyncio.get_running_loop()
        self._single = gate.wrap_unary(servicer.process_single_data)
        self._many = gate.wrap_unary(servicer.process_data)
        self._closed = False
        self.taken = 0  # requests handed over in-process (not over the socket)

    def register(self) -> None:
        if self._host in _LOOPBACK:
            with _lock:
                _registry[self.port] = self

    async def close(self) -> None:
        """Take no more requests; hand-offs already scheduled run their first step (and are refused)."""
        with _lock:
            self._closed = True
            if _registry.get(self.port) is self:
                del _registry[self.port]
        await asyncio.sleep(0)

    async def _serve(
        self, raw: bytes, many: bool, timeout: float | None, started: list[bool]
    ) -> jina_pb2.DataRequestProto:
        started.append(True)
        self.taken += 1
        context = _LocalContext(timeout)
        if many:
            return await self._many(jina_pb2.DataRequestListProto.FromString(raw), context)
        return await self._single(jina_pb2.DataRequestProto.FromString(raw), context)

    async def send(
        self, requests: Sequence[jina_pb2.DataRequestProto], timeout: float | None
    ) -> jina_pb2.DataRequestProto:
        """Answer ``requests`` on the worker's loop; raises :class:`NotDelivered` if it took none,
        ``TimeoutError`` after ``timeout`` seconds (the worker's call is then cancelled)."""
        if len(requests) == 1:
            raw, many = requests[0].SerializeToString(), False
        else:
            raw, many = jina_pb2.DataRequestListProto(requests=list(requests)).SerializeToString(), True
        started: list[bool] = []
        with _lock:
            if self._closed:
                raise NotDelivered("the worker is stopping")
            try:
                serve = self._serve(raw, many, timeout, started)
                future = asyncio.run_coroutine_threadsafe(serve, self._loop)
            except RuntimeError as exc:  # its loop is closed
                serve.close()
                raise NotDelivered(str(exc)) from exc
        waiting = asyncio.wrap_future(future)
        try:
            return await asyncio.wait_for(waiting, timeout)
        except (asyncio.CancelledError, concurrent.futures.CancelledError):
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the caller gave up: the worker's call was cancelled with it
            if started:
                raise WorkerDropped("the worker stopped before answering") from None
            raise NotDelivered("the worker stopped before taking the request") from None


def local_worker(address: str) -> LocalWorker | None:
    """The worker of this process listening on ``address`` (``host:port``), if any."""
    host, _, port = address.rpartition(":")
    if host.strip("[]") not in _LOOPBACK or not port.isdigit():
        return None
    return _registry.get(int(port))


def handed_over() -> int:
    """How many data requests the registered workers of this process took in-process."""
    with _lock:
        return sum(worker.taken for worker in _registry.values())
