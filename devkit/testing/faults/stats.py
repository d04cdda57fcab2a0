"""Counters of what crossed an edge and what was injected on it."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["EdgeStats", "Recorder"]

Direction = Literal["upstream", "downstream"]


@dataclass(frozen=True)
class EdgeStats:
    """A snapshot of an edge's counters (taken when ``edge.stats`` is read).

    ``connections``: TCP connections accepted by the proxy. ``calls``: gRPC calls of any
    method (gRPC layer only). ``requests``: data requests (gRPC and HTTP layers; the TCP
    layer cannot see requests). ``docs_in`` / ``docs_out``: documents in forwarded requests and
    in the answers that came back (gRPC layer only). ``bytes_up`` / ``bytes_down``: bytes
    towards the target and back. ``faults``: injections by kind (``'latency'``, ``'fail'``,
    ``'reset_peer'``, ...); ``codes``: gRPC status codes (or HTTP statuses,
    ``'503'``) answered by injected failures.
    """

    connections: int = 0
    calls: int = 0
    requests: int = 0
    docs_in: int = 0
    docs_out: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)

    @property
    def injected(self) -> int:
        """All injections of every kind."""
        return sum(self.faults.values())


class Recorder:
    """The mutable counters behind :class:`EdgeStats`; safe to update from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._codes: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def injected(self, kind: str, code: str | None = None) -> None:
        with self._lock:
            self._faults[kind] += 1
            if code is not None:
                self._codes[code] += 1

    def snapshot(self) -> EdgeStats:
        with self._lock:
            counts = self._counts
            return EdgeStats(
                connections=counts["connections"],
                calls=counts["calls"],
                requests=counts["requests"],
                docs_in=counts["docs_in"],
                docs_out=counts["docs_out"],
                bytes_up=counts["bytes_up"],
                bytes_down=counts["bytes_down"],
                faults=dict(self._faults),
                codes=dict(self._codes),
            )
