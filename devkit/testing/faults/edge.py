"""Edge handles: ``network.edge('gateway', 'encoder')`` selects edges and carries faults."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple

import grpc

from devkit.orchestrate.addressing import Edge
from devkit.testing.faults.faults import (
    Bandwidth,
    Direction,
    Fail,
    Fault,
    HttpFail,
    Latency,
    LimitData,
    Partition,
    ResetPeer,
    SlowClose,
    Timeout,
)
from devkit.testing.faults.schedule import Schedule
from devkit.testing.faults.stats import EdgeStats, Recorder

__all__ = ["EdgeHandle", "LayerError", "Selector"]

Layer = Literal["tcp", "grpc", "http"]


class LayerError(ValueError):
    """A fault or edge declaration that does not fit the layer (TCP, gRPC or HTTP) of the edge."""


class Selector(NamedTuple):
    """Which edges a handle covers; ``None`` for shard or replica means every one."""

    source: str
    target: str
    shard: int | None = None
    replica: int | None = None

    def matches(self, edge: Edge) -> bool:
        return (
            self.source == edge.source
            and self.target == edge.target
            and (self.shard is None or self.shard == edge.shard)
            and (self.replica is None or self.replica == edge.replica)
        )

    def overlaps(self, other: Selector) -> bool:
        return (
            self.source == other.source
            and self.target == other.target
            and (self.shard is None or other.shard is None or self.shard == other.shard)
            and (self.replica is None or other.replica is None or self.replica == other.replica)
        )

    def __str__(self) -> str:
        where = [
            f"{name}={value}"
            for name, value in (("shard", self.shard), ("replica", self.replica))
            if value is not None
        ]
        return f"{self.source} -> {self.target}" + (f" ({', '.join(where)})" if where else "")


class EdgeHandle:
    """Faults and counters for every edge the selector matches (all replicas unless narrowed).

    Faults added here apply at once, also to connections and calls already under way, and
    to edges proxied later. Every adder returns the :class:`Fault`, a context manager that
    removes it on exit. ``stats`` counts traffic from when the handle was created.
    """

    def __init__(self, selector: Selector, layer: Layer, seed: int, on_change: Callable[[], None]) -> None:
        self.selector = selector
        self.layer: Layer = layer
        self._seed = seed
        self._lock = threading.Lock()
        self._faults: tuple[Fault, ...] = ()
        self._added = 0
        self._recorder = Recorder()
        self._on_change = on_change

    def __repr__(self) -> str:
        return f"<EdgeHandle {self.selector} layer={self.layer} faults={len(self._faults)}>"

    # -- reading --------------------------------------------------------------------------
    @property
    def faults(self) -> tuple[Fault, ...]:
        """The faults still in place (a snapshot; removed and spent ones are left out)."""
        return tuple(fault for fault in self._faults if fault.active)

    @property
    def stats(self) -> EdgeStats:
        """A snapshot of the counters of every matching edge."""
        return self._recorder.snapshot()

    @property
    def recorder(self) -> Recorder:
        return self._recorder

    # -- adding and removing --------------------------------------------------------------
    def add(self, fault: Fault) -> Fault:
        """Put ``fault`` on this edge now; returns it (use it in ``with`` to scope it)."""
        if self.layer not in fault.layers:
            layers = " or ".join(repr(layer) for layer in fault.layers)
            raise LayerError(
                f"{type(fault).__name__} works on layer {layers}, but edge {self.selector} is layer "
                f"{self.layer!r}; declare it with network.edge(..., layer={fault.layers[0]!r}) before start"
            )
        with self._lock:
            self._added += 1
            fault.seed_key = f"{self._seed}/{self.selector}/{fault.kind}/{self._added}"
            fault._on_remove = self._forget
            self._faults = (*self._faults, fault)
        self._on_change()
        return fault

    def _forget(self, fault: Fault) -> None:
        with self._lock:
            self._faults = tuple(f for f in self._faults if f is not fault)
        self._on_change()

    def clear(self) -> None:
        """Remove every fault from this edge. Idempotent."""
        for fault in self._faults:
            fault.remove()

    # -- TCP toxics (latency also works on gRPC edges) ------------------------------------
    def latency(
        self,
        latency: float,
        jitter: float = 0.0,
        *,
        direction: Direction | None = None,
        times: int | None = None,
        when: Schedule | None = None,
    ) -> Fault:
        """Delay by ``latency`` ± ``jitter`` seconds (seeded): TCP chunks (default: answers
        only, ``direction='both'`` for both ways) or, on a gRPC edge, data requests picked by ``when``."""
        if when is not None and self.layer != "grpc":
            raise LayerError(
                f"latency(when=...) counts requests, which only a gRPC edge sees; edge {self.selector} is "
                f"{self.layer!r}: declare it with network.edge(..., layer='grpc') or drop when="
            )
        return self.add(Latency(latency, jitter, direction=direction, times=times, when=when))

    def bandwidth(self, rate: float, *, direction: Direction | None = None) -> Fault:
        """Limit throughput to ``rate`` bytes per second (default: answers only)."""
        return self.add(Bandwidth(rate, direction=direction))

    def timeout(
        self, timeout: float | None, *, direction: Direction | None = None, times: int | None = None
    ) -> Fault:
        """Drop all data and close the connection after ``timeout`` seconds (``None``: never)."""
        return self.add(Timeout(timeout, direction=direction, times=times))

    def blackhole(self, *, direction: Direction | None = None) -> Fault:
        """Drop all data and never close: callers wait for their own deadline."""
        return self.add(Timeout(None, direction=direction))

    def reset_peer(
        self, timeout: float = 0.0, *, direction: Direction | None = None, times: int | None = None
    ) -> Fault:
        """Reset connections (TCP RST) as data flows, after ``timeout`` seconds; ``times`` caps the resets."""
        return self.add(ResetPeer(timeout, direction=direction, times=times))

    def slow_close(self, delay: float) -> Fault:
        """Delay closing one side by ``delay`` seconds after the other side closed."""
        return self.add(SlowClose(delay))

    def limit_data(
        self, limit: int, *, direction: Direction | None = None, times: int | None = None
    ) -> Fault:
        """Close each connection after ``limit`` bytes went through (default: answers)."""
        return self.add(LimitData(limit, direction=direction, times=times))

    # -- both layers ----------------------------------------------------------------------
    def partition(self) -> Fault:
        """Cut the edge until :meth:`heal` (or the end of the ``with`` block)."""
        return self.add(Partition())

    def heal(self) -> None:
        """Remove every partition of this edge; other faults stay. Idempotent."""
        for fault in self._faults:
            if isinstance(fault, Partition):
                fault.remove()

    # -- gRPC and HTTP faults -------------------------------------------------------------
    def fail(
        self,
        code: grpc.StatusCode | str | int = grpc.StatusCode.UNAVAILABLE,
        details: str | None = None,
        *,
        when: Schedule | None = None,
        where: Mapping[str, Any] | None = None,
        times: int | None = None,
    ) -> Fault:
        """Answer data requests with ``code`` instead of forwarding them (gRPC or HTTP edges).

        On an HTTP edge ``code`` is an HTTP status (``503``) or a gRPC code mapped to one
        (UNAVAILABLE is 503). ``when`` picks request numbers (counted from now), ``where`` is
        a docarray query (gRPC edges): only requests with a matching document fail;
        ``times`` caps the failures.
        """
        if self.layer == "http":
            if where is not None:
                raise LayerError(
                    f"fail(where=...) reads documents, which only a gRPC edge decodes; edge {self.selector} "
                    "is 'http': drop where= or use when= to pick requests"
                )
            return self.add(HttpFail(code, details, when=when, times=times))
        if isinstance(code, int):
            raise LayerError(
                f"HTTP status {code} needs an HTTP edge, but edge {self.selector} is {self.layer!r}; declare it "
                "with network.edge(..., layer='http') before start, or pass a gRPC status code"
            )
        return self.add(Fail(code, details, when=when, where=where, times=times))

    def fail_first(
        self, count: int, code: grpc.StatusCode | str | int = grpc.StatusCode.UNAVAILABLE
    ) -> Fault:
        """Fail the next ``count`` data requests, then forward (``fail_first(2, 503)`` on HTTP)."""
        return self.fail(code, when=Schedule.first(count))

    def fail_every(self, k: int, code: grpc.StatusCode | str | int = grpc.StatusCode.UNAVAILABLE) -> Fault:
        """Fail requests k, 2k, 3k ... (counted from now)."""
        return self.fail(code, when=Schedule.every(k))

    def fail_where(
        self, query: Mapping[str, Any], code: grpc.StatusCode | str = grpc.StatusCode.INTERNAL
    ) -> Fault:
        """Fail requests carrying a document that matches ``query`` (``filter_docs`` syntax)."""
        return self.fail(code, where=query)
