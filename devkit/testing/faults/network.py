"""FakeNetwork: proxies for the edges of a topology, on one background event loop."""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from devkit.orchestrate.addressing import Edge
from devkit.testing.faults.edge import EdgeHandle, Layer, LayerError, Selector
from devkit.testing.faults.grpc_proxy import GrpcLink
from devkit.testing.faults.http_proxy import HttpLink
from devkit.testing.faults.link import Link
from devkit.testing.faults.tcp import TcpLink

__all__ = ["FakeNetwork"]

T = TypeVar("T")

THREAD_NAME = "devkit-faults"


class _State(enum.Enum):
    NEW = "new"
    STARTED = "started"
    CLOSED = "closed"


class FakeNetwork:
    """A fault-injecting network for Deployments and Flows in the test process.

    ``with FakeNetwork(seed=1) as network:`` starts a loop thread named ``devkit-faults``;
    ``network.attach(flow)`` (or ``flow.route_through(network)``) before the Flow starts
    puts a proxy on every edge it dials: client -> gateway and gateway -> each Executor
    replica of each shard. Proxies listen on 127.0.0.1 on ports the OS chooses and are
    all stopped on exit. Faults go on :meth:`edge` handles. The same ``seed`` gives the
    same random choices (jitter, ``Schedule.random``).
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._state = _State.NEW
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._handles: dict[Selector, EdgeHandle] = {}
        self._links: list[Link] = []

    def __repr__(self) -> str:
        return f"<FakeNetwork seed={self.seed} {self._state.value} links={len(self._links)}>"

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeNetwork:
        """Start the loop thread. Starting a started network is an error, as is a closed one."""
        if self._state is not _State.NEW:
            raise RuntimeError(f"this FakeNetwork is {self._state.value}; build a new one to start again")
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        thread = threading.Thread(target=self._run, args=(loop, ready), name=THREAD_NAME, daemon=True)
        thread.start()
        ready.wait()
        self._loop, self._thread = loop, thread
        self._state = _State.STARTED
        return self

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def close(self) -> None:
        """Stop every proxy (open connections are reset) and the loop thread. Idempotent."""
        if self._state is not _State.STARTED:
            self._state = _State.CLOSED
            return
        self._state = _State.CLOSED
        assert self._loop is not None and self._thread is not None
        try:
            self._call(self._stop_links(), timeout=10.0)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10.0)
            self._loop = self._thread = None

    async def _stop_links(self) -> None:
        await asyncio.gather(*(link.stop() for link in self._links), return_exceptions=True)

    def __enter__(self) -> FakeNetwork:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        assert self._loop is not None
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("FakeNetwork methods cannot be called from its own loop thread")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- plugging in ----------------------------------------------------------------------
    def attach(self, orchestrator: Any) -> Any:
        """Route ``orchestrator`` (a Deployment or Flow, not started yet) through this network."""
        orchestrator.route_through(self)
        return orchestrator

    def __call__(self, edge: Edge, address: str) -> str:
        """The address rewriter: start a proxy for ``edge`` and return its address."""
        if self._state is not _State.STARTED:
            raise RuntimeError(
                f"the FakeNetwork is {self._state.value} but {edge.source} -> {edge.target} is being dialled; "
                "start it first (`with FakeNetwork() as network:` or the `network` fixture)"
            )
        with self._lock:
            handles = [handle for selector, handle in self._handles.items() if selector.matches(edge)]
            layers = {handle.layer for handle in handles}
            if len(layers) > 1:
                found = ", ".join(f"{handle.selector} is {handle.layer!r}" for handle in handles)
                raise LayerError(f"edge {edge} is declared with two layers: {found}")
            kind = (
                {"grpc": GrpcLink, "http": HttpLink}.get(next(iter(layers)), TcpLink) if layers else TcpLink
            )
            link: Link = kind(edge, address, self.seed)
            link.handles = handles
            self._call(link.start())
            self._links.append(link)
        return link.address

    # -- edges ----------------------------------------------------------------------------
    def edge(
        self,
        source: str,
        target: str,
        *,
        shard: int | None = None,
        replica: int | None = None,
        layer: Layer | None = None,
    ) -> EdgeHandle:
        """The handle of the edges from ``source`` to ``target`` (every shard and replica
        unless narrowed). The same arguments return the same handle.

        ``layer`` is ``'tcp'`` (toxics on bytes), ``'grpc'`` (faults on calls) or ``'http'``
        (status faults on HTTP requests and WebSocket handshakes, toxics on bytes); it must
        be chosen before the edge is dialled. ``None`` keeps the layer already declared or
        proxied for these edges, else ``'tcp'``.
        """
        if layer not in (None, "tcp", "grpc", "http"):
            raise ValueError(f"layer must be 'tcp', 'grpc' or 'http', got {layer!r}")
        selector = Selector(source, target, shard, replica)
        with self._lock:
            known = self._handles.get(selector)
            if known is not None:
                if layer is not None and layer != known.layer:
                    raise LayerError(f"edge {selector} was already declared with layer {known.layer!r}")
                return known
            resolved = self._resolve_layer(selector, layer)
            handle = EdgeHandle(selector, resolved, self.seed, lambda: self._faults_changed(selector))
            self._handles[selector] = handle
            for link in self._links:
                if selector.matches(link.edge):
                    link.handles.append(handle)
        return handle

    def _resolve_layer(self, selector: Selector, layer: Layer | None) -> Layer:
        existing: dict[str, Layer] = {}
        for other, handle in self._handles.items():
            if other.overlaps(selector):
                existing[str(other)] = handle.layer
        for link in self._links:
            if selector.matches(link.edge):
                existing[f"{link.edge.source} -> {link.edge.target} (proxied)"] = link.layer
        layers = set(existing.values())
        if layer is None:
            return next(iter(layers)) if len(layers) == 1 else "tcp"
        if layers - {layer}:
            found = ", ".join(f"{name} is {value!r}" for name, value in existing.items())
            raise LayerError(
                f"cannot declare {selector} as {layer!r}: {found}. Choose the layer before the edge is dialled, "
                "and the same one for overlapping handles"
            )
        return layer

    def _faults_changed(self, selector: Selector) -> None:
        if self._state is not _State.STARTED:
            return
        links = [link for link in self._links if selector.matches(link.edge)]
        if links:

            async def notify() -> None:
                for link in links:
                    link.on_faults_changed()

            self._call(notify())

    @property
    def handles(self) -> list[EdgeHandle]:
        """Every edge handle asked for with :meth:`edge`, in the order asked."""
        with self._lock:
            return list(self._handles.values())

    def faults_by_target(self) -> dict[str, list[str]]:
        """``{target: ['fail x3', ...]}``: what was injected towards each target, for reports."""
        found: dict[str, list[str]] = {}
        for handle in self.handles:
            for kind, count in handle.stats.faults.items():
                if count:
                    found.setdefault(handle.selector.target, []).append(f"{kind} x{count}")
        return found

    @property
    def edges(self) -> list[tuple[Edge, str, str]]:
        """Every proxied edge as ``(edge, layer, proxy address)``, in the order dialled."""
        return [(link.edge, link.layer, link.address) for link in self._links]
