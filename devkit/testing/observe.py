"""Per-Executor figures gathered from the responses a test received.

Every response carries the route it took (one entry per Executor, with start and end time
and status, as jina records them). A :class:`RouteRecorder` observes a client's responses
and turns the routes into request counts, errors and median latencies per Executor, which
the pytest plugin draws on the topology plot of a failing test.
"""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devkit.plot import NodeAnnotation
from devkit.proto import jina_pb2

__all__ = ["NodeFigures", "RouteRecorder"]


@dataclass
class NodeFigures:
    requests: int = 0
    errors: int = 0
    durations_ms: list[float] = field(default_factory=list)

    @property
    def p50_ms(self) -> float | None:
        return statistics.median(self.durations_ms) if self.durations_ms else None


class RouteRecorder:
    """Callable observer: ``Client(observers=[recorder])`` or ``flow.observers.append(recorder)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.nodes: dict[str, NodeFigures] = defaultdict(NodeFigures)

    def __call__(self, response: Any) -> None:
        routes = response.routes if hasattr(response, "routes") else response.proto.routes
        with self._lock:
            for route in routes:
                if route.executor == "gateway":
                    continue
                figures = self.nodes[route.executor]
                figures.requests += 1
                if route.status.code == jina_pb2.StatusProto.ERROR:
                    figures.errors += 1
                if route.HasField("start_time") and route.HasField("end_time"):
                    start = route.start_time.ToNanoseconds()
                    figures.durations_ms.append((route.end_time.ToNanoseconds() - start) / 1e6)

    def annotations(self, faults: Mapping[str, Iterable[str]] | None = None) -> dict[str, NodeAnnotation]:
        """Figures per Executor for :func:`devkit.plot.render_svg`, with active faults by target."""
        faults = faults or {}
        names = set(self.nodes) | set(faults)
        with self._lock:
            return {
                name: NodeAnnotation(
                    requests=self.nodes[name].requests if name in self.nodes else None,
                    errors=self.nodes[name].errors if name in self.nodes else None,
                    p50_ms=self.nodes[name].p50_ms if name in self.nodes else None,
                    faults=tuple(faults.get(name, ())),
                )
                for name in sorted(names)
            }

    def summary(self) -> str:
        with self._lock:
            lines = [
                f"  {name}: {fig.requests} requests, {fig.errors} errors"
                + (f", p50 {fig.p50_ms:.1f} ms" if fig.p50_ms is not None else "")
                for name, fig in sorted(self.nodes.items())
            ]
        return "\n".join(lines) or "  (no request reached an Executor)"
