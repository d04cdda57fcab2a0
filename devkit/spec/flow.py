"""The typed description of a Flow, and the checks that run before anything starts."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from devkit.errors import ConfigError
from devkit.spec.models import DeploymentSpec, ExecutorDefaults, GatewayOptions, RuntimeKind, _Spec

__all__ = [
    "GATEWAY",
    "FlowExecutorSpec",
    "FlowGatewaySpec",
    "FlowSpec",
    "topological_order",
    "topology_problems",
]

#: The name by which an Executor needs the gateway, i.e. the start of the Flow.
GATEWAY = "gateway"


class FlowExecutorSpec(_Spec):
    """One ``Flow.add(...)``: a Deployment plus its place in the topology."""

    deployment: DeploymentSpec
    needs: tuple[str, ...] = (GATEWAY,)
    when: dict[str, Any] | None = None
    floating: bool = False
    no_reduce: bool = False
    external: bool = False
    external_addresses: tuple[str, ...] = ()  # "host:port" of each replica of an external Executor
    tls: bool = False
    grpc_metadata: dict[str, str] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.deployment.name


class FlowGatewaySpec(GatewayOptions):
    """The gateway of a Flow as configured (``config_gateway``, YAML ``gateway:``)."""


class FlowSpec(_Spec):
    name: str = "Flow"
    executors: tuple[FlowExecutorSpec, ...] = ()
    gateway: FlowGatewaySpec = Field(default_factory=FlowGatewaySpec)
    runtime: RuntimeKind = "thread"
    timeout_ready: float | None = 600.0  # seconds: the gateway's, and each Executor's unless add() sets one
    image_pull_secrets: tuple[str, ...] = ()  # Kubernetes export: the gateway's pods pull with these
    defaults: ExecutorDefaults = Field(default_factory=ExecutorDefaults)  # the rest Executors inherit

    def ordered(self) -> list[FlowExecutorSpec]:
        """The Executors in an order where each comes after everything it needs."""
        return topological_order(self.executors)

    def by_name(self, name: str) -> FlowExecutorSpec:
        for executor in self.executors:
            if executor.name == name:
                return executor
        raise KeyError(name)


def topology_problems(
    executors: tuple[FlowExecutorSpec, ...] | list[FlowExecutorSpec], *, complete: bool = True
) -> list[str]:
    """Every reason the topology is invalid: duplicate or reserved names, unknown ``needs``, cycles.

    ``complete=False`` is for a Flow still being built: a ``needs`` naming an Executor not added
    yet may be a forward reference, so only the cycles among the known Executors count.
    """
    problems: list[str] = []
    names = [executor.name for executor in executors]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(
            f"two or more Executors are named {', '.join(map(repr, duplicates))}; names must be unique"
        )
    if GATEWAY in names:
        problems.append(f"{GATEWAY!r} is reserved for the gateway and cannot name an Executor")
    known = set(names) | {GATEWAY}
    for executor in executors:
        if executor.name in executor.needs:
            problems.append(f"Executor {executor.name!r} needs itself; an Executor cannot feed itself")
        unknown = [need for need in executor.needs if need not in known]
        if unknown and complete:
            problems.append(
                f"Executor {executor.name!r} needs {', '.join(map(repr, unknown))}, which is not in the Flow "
                f"(known: {', '.join(map(repr, names)) or 'none'}); add it or correct the name"
            )
    if problems:
        return problems
    cycle = _find_cycle({executor.name: executor for executor in executors})
    if cycle:
        problems.append(f"the needs form a cycle: {cycle}; remove one of these needs")
    return problems


def topological_order(
    executors: tuple[FlowExecutorSpec, ...] | list[FlowExecutorSpec],
) -> list[FlowExecutorSpec]:
    """Validate the topology and sort it; every problem is reported at once.

    Raises :class:`ConfigError` for duplicate names, ``needs`` naming an unknown Executor,
    and cycles (naming the Executors on the cycle). Ties keep the order of ``add`` calls.
    """
    problems = topology_problems(executors)
    if problems:
        raise ConfigError("invalid Flow topology: " + "; ".join(problems))
    ordered: list[FlowExecutorSpec] = []
    placed = {GATEWAY}
    remaining = list(executors)
    while remaining:
        ready = [executor for executor in remaining if all(need in placed for need in executor.needs)]
        for executor in ready:
            ordered.append(executor)
            placed.add(executor.name)
        remaining = [executor for executor in remaining if executor.name not in placed]
    return ordered


def _find_cycle(by_name: dict[str, FlowExecutorSpec]) -> str | None:
    """The first cycle found, as ``a -> b -> a``; ``needs`` naming unknown Executors are ignored."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> list[str] | None:
        if name in visiting:
            return [*visiting[visiting.index(name) :], name]
        if name in done or name not in by_name:
            return None
        visiting.append(name)
        for need in by_name[name].needs:
            found = visit(need)
            if found:
                return found
        visiting.pop()
        done.add(name)
        return None

    for name in by_name:
        cycle = visit(name)
        if cycle:
            return " -> ".join(reversed(cycle))
    return None
