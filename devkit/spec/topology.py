"""What runs, computed once from a Flow or Deployment spec: the workers and the gateway's edges.

A pure function of the spec: nothing is started, no socket is opened. The orchestrators start
the workers it lists and then the gateway it describes; the exporters render the same plan as
compose services or Kubernetes objects; the plot and the contract checks read its order. Only
the address of each worker differs between them (a loopback port, a service DNS name), so the
gateway spec is built from a function that gives it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import Field

from devkit.spec.flow import FlowSpec
from devkit.spec.models import (
    DeploymentSpec,
    ExecutorSpec,
    GatewayOptions,
    GatewaySpec,
    HttpOptions,
    NodeSpec,
    RuntimeKind,
    SecretRef,
    WorkerSpec,
    _Spec,
)

__all__ = ["AddressOf", "ExecutorPlan", "Topology", "resolve", "resolve_deployment", "resolve_flow"]


class ExecutorPlan(_Spec):
    """One Executor as it runs: its workers (shard-major) and how the gateway reaches them."""

    name: str
    executor: ExecutorSpec
    workers: tuple[WorkerSpec, ...] = ()  # empty for an external Executor
    replicas: int = 1
    shards: int = 1
    runtime: RuntimeKind = "thread"
    timeout_ready: float | None = 600.0
    external_addresses: tuple[str, ...] = ()  # "host:port" per replica of an external Executor
    env_from_secret: dict[str, SecretRef] = Field(default_factory=dict)  # exported manifests only
    image_pull_secrets: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    node: NodeSpec  # the gateway's view, with no addresses yet (``shards=()``)

    @property
    def external(self) -> bool:
        return self.node.external

    def worker(self, shard: int, replica: int) -> WorkerSpec:
        return self.workers[shard * self.replicas + replica]

    def shard_replicas(self) -> list[tuple[int, int]]:
        """Every ``(shard, replica)`` the gateway dials (an external Executor: one shard)."""
        if self.external:
            return [(0, replica) for replica in range(len(self.external_addresses))]
        return [(worker.shard_id, worker.replica_id) for worker in self.workers]


#: ``(plan, shard, replica) -> "host:port"``: where the gateway reaches that worker
AddressOf = Callable[[ExecutorPlan, int, int], str]


class Topology(_Spec):
    """The resolved Flow or Deployment: Executors in dependency order, and the gateway (if any)."""

    kind: Literal["Flow", "Deployment"]
    name: str
    executors: tuple[ExecutorPlan, ...] = ()
    gateway: GatewayOptions | None = None  # None: a lone gRPC worker listens on the front port
    gateway_name: str = "gateway"
    runtime: RuntimeKind = "thread"
    timeout_ready: float | None = 600.0
    http: HttpOptions = Field(default_factory=HttpOptions)
    image_pull_secrets: tuple[str, ...] = ()  # the gateway's (exported manifests only)

    @property
    def workers(self) -> list[WorkerSpec]:
        return [worker for plan in self.executors for worker in plan.workers]

    def by_name(self, name: str) -> ExecutorPlan:
        for plan in self.executors:
            if plan.name == name:
                return plan
        raise KeyError(name)

    @property
    def open_ends(self) -> list[str]:
        """The Executors whose output is the response: nothing needs them and they do not float."""
        needed = {need for plan in self.executors for need in plan.node.needs}
        return [p.name for p in self.executors if p.name not in needed and not p.node.floating]

    def depths(self) -> dict[str, int]:
        """Each Executor's column: one more than the deepest Executor it needs (the gateway is 0)."""
        depth = {"gateway": 0}
        for plan in self.executors:
            depth[plan.name] = 1 + max(depth[need] for need in plan.node.needs)
        return depth

    def gateway_spec(self, address_of: AddressOf) -> GatewaySpec:
        """The gateway with its edges: each Executor's shards and replicas at ``address_of``."""
        if self.gateway is None:
            raise ValueError(f"{self.kind} {self.name!r} has no gateway: its one worker listens itself")
        nodes = []
        for plan in self.executors:
            shards: list[list[str]] = [[] for _ in range(1 if plan.external else plan.shards)]
            for shard, replica in plan.shard_replicas():
                shards[shard].append(address_of(plan, shard, replica))
            nodes.append(plan.node.model_copy(update={"shards": tuple(tuple(s) for s in shards)}))
        options = dict(self.gateway)  # fields as they are (a custom gateway class stays a class)
        return GatewaySpec(name=self.gateway_name, nodes=tuple(nodes), expose_reflection=True, **options)


def resolve_flow(spec: FlowSpec) -> Topology:
    """Validate the Flow's topology (raises ConfigError) and list what runs, in dependency order."""
    plans = []
    for executor in spec.ordered():
        deployment = executor.deployment
        node = NodeSpec(
            name=executor.name,
            shards=(),
            polling=deployment.polling,
            needs=executor.needs,
            when=executor.when,
            floating=executor.floating,
            no_reduce=executor.no_reduce,
            timeout_send=deployment.timeout_send,
            retries=deployment.retries,
            tls=executor.tls,
            grpc_metadata=executor.grpc_metadata,
            external=executor.external,
        )
        plans.append(
            ExecutorPlan(
                name=executor.name,
                executor=deployment.executor,
                workers=() if executor.external else tuple(deployment.worker_specs()),
                replicas=deployment.replicas,
                shards=deployment.shards,
                runtime=deployment.runtime,
                timeout_ready=deployment.timeout_ready,
                external_addresses=executor.external_addresses,
                env_from_secret=deployment.env_from_secret,
                image_pull_secrets=deployment.image_pull_secrets,
                volumes=deployment.volumes,
                node=node,
            )
        )
    return Topology(
        kind="Flow",
        name=spec.name,
        executors=tuple(plans),
        gateway=spec.gateway,
        gateway_name=f"{spec.name}/gateway",
        runtime=spec.runtime,
        timeout_ready=spec.timeout_ready,
        http=spec.gateway.http,
        image_pull_secrets=spec.image_pull_secrets,
    )


def resolve_deployment(spec: DeploymentSpec, http: HttpOptions | None = None) -> Topology:
    """One Executor's workers; a gateway in front when there are several or a non-gRPC protocol."""
    workers = tuple(spec.worker_specs())
    if not spec.needs_front:  # the lone worker listens on the Deployment's own host and port
        workers = (workers[0].model_copy(update={"host": spec.host, "port": spec.protocols[0].port}),)
    http = http or HttpOptions()
    plan = ExecutorPlan(
        name=spec.name,
        executor=spec.executor,
        workers=workers,
        replicas=spec.replicas,
        shards=spec.shards,
        runtime=spec.runtime,
        timeout_ready=spec.timeout_ready,
        env_from_secret=spec.env_from_secret,
        image_pull_secrets=spec.image_pull_secrets,
        volumes=spec.volumes,
        node=NodeSpec(
            name=spec.name,
            shards=(),
            polling=spec.polling,
            needs=("gateway",),
            timeout_send=spec.timeout_send,
            retries=spec.retries,
        ),
    )
    gateway = (
        GatewayOptions(
            host=spec.host, protocols=spec.protocols, http=http, telemetry=spec.telemetry, record=spec.record
        )
        if spec.needs_front
        else None
    )
    return Topology(
        kind="Deployment",
        name=spec.name,
        executors=(plan,),
        gateway=gateway,
        gateway_name=f"{spec.name}/gateway",
        runtime=spec.runtime,
        timeout_ready=spec.timeout_ready,
        http=http,
        image_pull_secrets=spec.image_pull_secrets,
    )


def resolve(spec: FlowSpec | DeploymentSpec, http: HttpOptions | None = None) -> Topology:
    if isinstance(spec, FlowSpec):
        return resolve_flow(spec)
    return resolve_deployment(spec, http)
