"""Building orchestrators for one test and checking that nothing outlives it.

The pytest plugin wraps this in fixtures; it is plain Python so other test runners can
use it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devkit.client.sync_client import Client
from devkit.orchestrate.addressing import CLIENT, Edge, rewrite
from devkit.orchestrate.base import Orchestrator
from devkit.orchestrate.deployment import Deployment
from devkit.orchestrate.flow import Flow
from devkit.runtime.address import Address
from devkit.runtime.default import RUNTIMES
from devkit.testing.leaks import Snapshot, leaked_since, open_ports, snapshot
from devkit.testing.observe import RouteRecorder
from devkit.testing.spans import Spans

__all__ = ["RUNTIMES", "TestHarness"]


#: Where servers built by the test kit listen: loopback only, never every interface.
LOOPBACK = "127.0.0.1"


@dataclass
class TestHarness:
    """Everything one test started, so teardown can stop it and report leaks."""

    runtime: str = "thread"
    #: the gateway protocol the factories' Flows/Deployments serve and their clients dial
    protocol: str = "grpc"
    orchestrators: list[Orchestrator] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    baseline: Snapshot = field(default_factory=snapshot)
    recorders: dict[int, RouteRecorder] = field(default_factory=dict)
    #: trace what the factories build (``tracing=True`` unless the test says otherwise)
    tracing: bool = False
    #: where the test's spans are collected, for a failing test's report
    spans: Spans | None = None

    def flow(self, **kwargs: Any) -> Flow:
        kwargs.setdefault("runtime", self.runtime)
        kwargs.setdefault("protocol", self.protocol)
        kwargs.setdefault("quiet", True)
        kwargs.setdefault("host", LOOPBACK)
        if self.tracing:
            kwargs.setdefault("tracing", True)
        flow = Flow(**kwargs)
        self._record(flow)
        return flow

    def _record(self, orchestrator: Orchestrator) -> None:
        recorder = RouteRecorder()
        orchestrator.observers.append(recorder)
        self.recorders[id(orchestrator)] = recorder
        self.orchestrators.append(orchestrator)

    def recorder_of(self, orchestrator: Orchestrator) -> RouteRecorder:
        return self.recorders[id(orchestrator)]

    def deployment(self, uses: Any = None, **kwargs: Any) -> Deployment:
        kwargs.setdefault("runtime", self.runtime)
        kwargs.setdefault("protocol", self.protocol)
        kwargs.setdefault("quiet", True)
        kwargs.setdefault("host", LOOPBACK)
        if self.tracing:
            kwargs.setdefault("tracing", True)
        deployment = Deployment(uses, **kwargs)
        self._record(deployment)
        return deployment

    def client(self, target: Orchestrator | int | str, protocol: str | None = None, **kwargs: Any) -> Client:
        """A client of a started Flow/Deployment (or a port, or a ``grpc://host:port`` URL),
        speaking ``protocol`` (default: the harness's; a Flow's port for it is looked up).

        A Flow/Deployment's client dials through the same address rewriters as its own hops
        (a ``FakeNetwork`` it is attached to puts a proxy on this client -> gateway edge too),
        so faults on ``network.edge('client', 'gateway')`` reach it, over any protocol.
        An ``asyncio=True`` client is the test's to close, on its own event loop.
        """
        protocol = protocol or self.protocol
        if self.tracing:
            kwargs.setdefault("tracing", True)
        if isinstance(target, Orchestrator):
            if target.port is None:
                raise RuntimeError("start the Flow/Deployment before asking for its client")
            if protocol not in target.ports_by_protocol:
                served = ", ".join(target.ports_by_protocol) or "none"
                raise ValueError(
                    f"the {target.kind} does not serve {protocol!r} (it serves {served}); "
                    f"build it with protocol={protocol!r} or ask for a client of one it serves"
                )
            if id(target) in self.recorders:
                kwargs.setdefault("observers", [self.recorders[id(target)]])
            edge = Edge(CLIENT, target.entry_name)
            address = rewrite(target.address_rewriters, edge, str(target.front_address(protocol)))
            client = Client(host=address, protocol=protocol, **kwargs)
        elif isinstance(target, int):
            client = Client(host=LOOPBACK, port=target, protocol=protocol, **kwargs)
        else:
            client = Client(host=target, protocol=protocol, **kwargs)
        if not kwargs.get("asyncio"):  # an asyncio client lives on the test's loop: closed there
            self.clients.append(client)
        return client

    def close(self) -> list[str]:
        """Stop everything still running; return a description of each leak found."""
        problems: list[str] = []
        for client in self.clients:
            client.close()
        addresses: list[Address] = []
        for orchestrator in reversed(self.orchestrators):
            addresses.extend(orchestrator.addresses)
            try:
                orchestrator.close()
            except Exception as exc:
                problems.append(f"{orchestrator.kind} did not close cleanly: {exc}")
        problems.extend(leaked_since(self.baseline))
        problems.extend(f"{address} still listening" for address in open_ports(addresses))
        return problems
