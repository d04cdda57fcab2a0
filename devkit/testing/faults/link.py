"""What the TCP and gRPC proxies share: the edge, the handles watching it, counters."""

from __future__ import annotations

import random
from typing import TypeVar

from devkit.orchestrate.addressing import Edge
from devkit.testing.faults.edge import EdgeHandle, Layer
from devkit.testing.faults.faults import Fault, Partition

__all__ = ["Link"]

F = TypeVar("F", bound=Fault)


class Link:
    """One proxied edge: listens on 127.0.0.1 (OS-chosen port) and forwards to ``upstream``.

    Faults come from every :class:`EdgeHandle` whose selector matches the edge; they are
    looked up per connection, chunk or call, so adding or removing one takes effect at once.
    """

    layer: Layer = "tcp"

    def __init__(self, edge: Edge, upstream: str, seed: int) -> None:
        self.edge = edge
        self.upstream = upstream
        self.port = 0
        self.handles: list[EdgeHandle] = []
        self.rng = random.Random(f"{seed}/{edge}")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def faults_of(self, kind: type[F]) -> list[F]:
        return [fault for handle in self.handles for fault in handle.faults if isinstance(fault, kind)]

    def partition(self) -> Partition | None:
        partitions = self.faults_of(Partition)
        return partitions[0] if partitions else None

    def count(self, name: str, amount: int = 1) -> None:
        for handle in self.handles:
            handle.recorder.add(name, amount)

    def injected(self, fault: Fault, code: str | None = None) -> None:
        for handle in self.handles:
            handle.recorder.injected(fault.kind, code)

    def on_faults_changed(self) -> None:
        """Called (on the network's loop) after a fault was added to or removed from a handle."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError
