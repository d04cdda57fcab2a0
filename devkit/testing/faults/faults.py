"""The faults an edge can carry: TCP toxics (in the spirit of Toxiproxy), gRPC and HTTP faults.

A fault is added to an edge handle and applies at once; it is also a context manager
that removes it on exit (``with edge.latency(0.2): ...``), and ``remove()`` is idempotent.
TCP toxics see chunks of bytes on one connection; gRPC faults see whole calls.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import grpc

from devkit.testing.faults.schedule import Schedule

__all__ = [
    "Bandwidth",
    "Chunk",
    "Fail",
    "Fault",
    "HttpFail",
    "Latency",
    "LimitData",
    "Partition",
    "ResetPeer",
    "SlowClose",
    "Timeout",
    "Toxic",
    "http_status",
    "status_code",
]

Direction = Literal["upstream", "downstream", "both"]
Layer = Literal["tcp", "grpc", "http"]

_ids = itertools.count(1)


def status_code(code: grpc.StatusCode | str) -> grpc.StatusCode:
    """``grpc.StatusCode.UNAVAILABLE`` or its name (``'unavailable'`` works too)."""
    if isinstance(code, grpc.StatusCode):
        return code
    try:
        return grpc.StatusCode[code.upper()]
    except KeyError:
        names = ", ".join(c.name for c in grpc.StatusCode)
        raise ValueError(f"unknown gRPC status code {code!r}; use one of {names}") from None


#: The HTTP status a gateway answers for a gRPC code (as jina's HTTP gateway maps them).
_HTTP_OF_GRPC = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


def http_status(code: grpc.StatusCode | str | int) -> int:
    """An HTTP error status (400-599), or a gRPC code mapped to one (UNAVAILABLE is 503, others 500)."""
    if isinstance(code, int):
        if not 400 <= code <= 599:
            raise ValueError(f"an injected HTTP status is an error status, 400 to 599; got {code}")
        return code
    return _HTTP_OF_GRPC.get(status_code(code), 500)


class Fault:
    """One fault on one edge handle. ``times`` caps the injections (``None``: no cap)."""

    kind: ClassVar[str] = "fault"
    #: The layers a fault works on; adding it to an edge of another layer is an error.
    layers: ClassVar[tuple[Layer, ...]] = ("tcp", "grpc", "http")

    def __init__(self, times: int | None = None) -> None:
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None (no cap), got {times}")
        self.times = times
        self.id = next(_ids)
        self._lock = threading.Lock()
        self._injected = 0
        self._removed = False
        self._seen = 0
        self._on_remove: Callable[[Fault], None] | None = None
        #: Seeds this fault's random choices; set by the edge it is added to.
        self.seed_key = f"fault-{self.id}"

    @property
    def injected(self) -> int:
        """How many times this fault was injected so far."""
        return self._injected

    @property
    def active(self) -> bool:
        """Added, not removed, and not past its ``times`` budget."""
        return not self._removed and (self.times is None or self._injected < self.times)

    def take(self) -> bool:
        """Claim one injection; False when removed or the budget is spent."""
        with self._lock:
            if not self.active:
                return False
            self._injected += 1
            return True

    def next_number(self) -> int:
        """Number the next data request this fault sees (1-based)."""
        with self._lock:
            self._seen += 1
            return self._seen

    def remove(self) -> None:
        """Take the fault off its edge. Idempotent."""
        with self._lock:
            if self._removed:
                return
            self._removed = True
            callback, self._on_remove = self._on_remove, None
        if callback is not None:
            callback(self)

    def __enter__(self) -> Fault:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} #{self.id} injected={self._injected}{' removed' if self._removed else ''}>"


# -- TCP ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    """Bytes read from one side of a connection, with the loop time they arrived."""

    data: bytes
    arrived: float


class ToxicTarget(Protocol):
    """What a toxic may do to the connection it is applied to (see ``tcp.TcpConnection``)."""

    rng: random.Random
    state: dict[int, Any]

    def reset(self) -> None: ...

    def close(self) -> None: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> None: ...


class Toxic(Fault):
    """A TCP toxic: transforms, delays or drops the chunks going one way (or both).

    An HTTP edge is a TCP proxy too, so toxics work there as well."""

    layers: ClassVar[tuple[Layer, ...]] = ("tcp", "http")
    default_direction: ClassVar[Direction] = "both"

    def __init__(self, *, direction: Direction | None = None, times: int | None = None) -> None:
        super().__init__(times)
        direction = direction or self.default_direction
        if direction not in ("upstream", "downstream", "both"):
            raise ValueError(f"direction must be 'upstream', 'downstream' or 'both', got {direction!r}")
        self.direction: Direction = direction

    def applies_to(self, direction: str) -> bool:
        return self.direction in ("both", direction)

    async def apply(self, chunk: Chunk, conn: ToxicTarget) -> Chunk | None:
        """Return the chunk to pass on (possibly changed), or None to drop it."""
        return chunk


class Latency(Toxic):
    """Deliver each chunk ``latency`` ± ``jitter`` seconds after it arrived (order kept).

    On a gRPC edge it delays each data request before forwarding it instead.
    """

    kind = "latency"
    layers: ClassVar[tuple[Layer, ...]] = ("tcp", "grpc", "http")
    default_direction = "downstream"

    def __init__(
        self,
        latency: float,
        jitter: float = 0.0,
        *,
        direction: Direction | None = None,
        times: int | None = None,
        when: Schedule | None = None,
    ) -> None:
        super().__init__(direction=direction, times=times)
        if latency < 0 or jitter < 0:
            raise ValueError(f"latency and jitter must be >= 0 seconds, got {latency}, {jitter}")
        self.latency = latency
        self.jitter = jitter
        self.when = when

    def delay(self, rng: random.Random) -> float:
        return max(0.0, self.latency + (rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0))

    async def apply(self, chunk: Chunk, conn: ToxicTarget) -> Chunk | None:
        wait = chunk.arrived + self.delay(conn.rng) - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)
        return chunk


class Bandwidth(Toxic):
    """Pass at most ``rate`` bytes per second (each chunk waits ``len / rate``)."""

    kind = "bandwidth"
    default_direction = "downstream"

    def __init__(self, rate: float, *, direction: Direction | None = None, times: int | None = None) -> None:
        super().__init__(direction=direction, times=times)
        if rate <= 0:
            raise ValueError(f"rate is in bytes per second and must be > 0, got {rate}")
        self.rate = rate

    async def apply(self, chunk: Chunk, conn: ToxicTarget) -> Chunk | None:
        await asyncio.sleep(len(chunk.data) / self.rate)
        return chunk


class Timeout(Toxic):
    """Drop all data; close the connection ``timeout`` seconds later (``None``: never).

    With ``timeout=None`` this is a blackhole: the peer waits until its own deadline.
    """

    kind = "timeout"

    def __init__(
        self, timeout: float | None = None, *, direction: Direction | None = None, times: int | None = None
    ) -> None:
        super().__init__(direction=direction, times=times)
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must be >= 0 seconds or None (never close), got {timeout}")
        self.timeout = timeout

    async def apply(self, chunk: Chunk, conn: ToxicTarget) -> Chunk | None:
        if self.timeout is not None and self.id not in conn.state:
            conn.state[self.id] = True
            conn.call_later(self.timeout, conn.close)
        return None


class ResetPeer(Toxic):
    """Reset the connection (TCP RST) when data flows, at once or ``timeout`` seconds later."""

    kind = "reset_peer"

    def __init__(
        self, timeout: float = 0.0, *, direction: Direction | None = None, times: int | None = None
    ) -> None:
        super().__init__(direction=direction, times=times)
        if timeout < 0:
            raise ValueError(f"timeout must be >= 0 seconds, got {timeout}")
        self.timeout = timeout

    async def apply(self, chunk: Chunk, conn: ToxicTarget) -> Chunk | None:
        if self.timeout == 0:
            conn.reset()
            return None
        if self.id not in conn.state:
            conn.state[self.id] = True
            conn.call_later(self.timeout, conn.reset)
        return chunk


class SlowClose(Toxic):
    """When one side closes, wait ``delay`` seconds before closing the other."""

    kind = "slow_close"

    def __init__(self, delay: float, *, times: int | None = None) -> None:
        super().__init__(direction="both", times=times)
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")
        self.delay = delay


class LimitData(Toxic):
    """Close the connection once ``limit`` bytes have gone through in this direction."""

    kind = "limit_data"
    default_direction = "downstream"

    def __init__(self, limit: int, *, direction: Direction | None = None, times: int | None = None) -> None:
        super().__init__(direction=direction, times=times)
        if limit < 0:
            raise ValueError(f"limit is a number of bytes and must be >= 0, got {limit}")
        self.limit = limit

    async def apply(self, chunk: Chunk, conn: ToxicTarget) -> Chunk | None:
        passed = conn.state.get(self.id, 0)
        room = self.limit - passed
        if room >= len(chunk.data):
            conn.state[self.id] = passed + len(chunk.data)
            return chunk
        conn.state[self.id] = self.limit
        conn.close()
        return Chunk(chunk.data[: max(room, 0)], chunk.arrived) if room > 0 else None


# -- both layers ----------------------------------------------------------------------------
class Partition(Fault):
    """Cut the edge: TCP connections are reset and new ones refused; gRPC calls get UNAVAILABLE.

    ``edge.heal()`` (or leaving its ``with`` block) lets traffic through again.
    """

    kind = "partition"


# -- gRPC -----------------------------------------------------------------------------------
class Fail(Fault):
    """Answer data requests with status ``code`` instead of forwarding them.

    ``when`` picks request numbers (default: every request); ``where`` is a docarray
    query (as for ``filter_docs``): only requests with at least one matching document fail.
    """

    kind = "fail"
    layers: ClassVar[tuple[Layer, ...]] = ("grpc",)

    def __init__(
        self,
        code: grpc.StatusCode | str = grpc.StatusCode.UNAVAILABLE,
        details: str | None = None,
        *,
        when: Schedule | None = None,
        where: Mapping[str, Any] | None = None,
        times: int | None = None,
    ) -> None:
        super().__init__(times)
        self.code = status_code(code)
        self.details = details or f"{self.code.name} injected by the fake network"
        self.when = when
        self.where = dict(where) if where is not None else None


# -- HTTP -----------------------------------------------------------------------------------
class HttpFail(Fault):
    """Answer data requests (and WebSocket handshakes) with HTTP ``status`` instead of forwarding.

    ``when`` picks request numbers (default: every request); health, readiness and docs
    routes are neither counted nor failed.
    """

    kind = "fail"
    layers: ClassVar[tuple[Layer, ...]] = ("http",)

    def __init__(
        self,
        status: grpc.StatusCode | str | int = 503,
        details: str | None = None,
        *,
        when: Schedule | None = None,
        times: int | None = None,
    ) -> None:
        super().__init__(times)
        self.status = http_status(status)
        self.details = details or f"HTTP {self.status} injected by the fake network"
        self.when = when
