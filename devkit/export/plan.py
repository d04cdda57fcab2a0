"""What both exporters share: the image, command, port and spec of each exported container.

Rendered from the resolved :class:`~devkit.spec.topology.Topology` only. Every container runs
devkit's own commands (``devkit worker SPEC_JSON``, ``devkit gateway SPEC_JSON``) with the spec
written into the command, so nothing is mounted from the host and nothing is fetched at export
time: exporting works offline. The gateway reaches each worker by its service name.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from devkit.errors import ConfigError
from devkit.spec.models import ExecutorSpec, GatewaySpec, ProtocolPort, SecretRef, WorkerSpec
from devkit.spec.topology import AddressOf, ExecutorPlan, Topology

__all__ = [
    "DEFAULT_IMAGE",
    "WORKER_PORT",
    "ExportedGateway",
    "ExportedWorker",
    "default_image",
    "exported_gateway",
    "exported_workers",
    "service_name",
]

#: where every exported worker listens inside its container; gateway front-ends start here too
WORKER_PORT = 8080
#: an image holding devkit (``devkit build`` makes one); ``DEVKIT_IMAGE`` overrides it
DEFAULT_IMAGE = "devkit-runtime:latest"
DOCKER = "docker://"
HUB_DOCKER = "jinaai+docker://"
PYTHON = ("python", "-m", "devkit")


def default_image() -> str:
    return os.environ.get("DEVKIT_IMAGE") or DEFAULT_IMAGE


def service_name(name: str) -> str:
    """A DNS label (RFC 1123) from an Executor name: lower case, ``-`` for anything else."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if not label:
        raise ConfigError(
            f"cannot make a service name from {name!r}; name the Executor with letters or digits"
        )
    return label[:63]


@dataclass(frozen=True)
class ExportedWorker:
    """One container of one shard: what image it runs with which spec."""

    plan: ExecutorPlan
    shard: int
    image: str
    spec: WorkerSpec  # as the container sees it: 0.0.0.0, WORKER_PORT

    @property
    def service(self) -> str:
        """The shard's service: ``encoder``, or ``indexer-0`` for shard 0 of a sharded Executor."""
        base = service_name(self.plan.name)
        return base if self.plan.shards == 1 else f"{base}-{self.shard}"

    @property
    def command(self) -> list[str]:
        return [*PYTHON, "worker", self.spec.model_dump_json(exclude_defaults=True)]

    @property
    def env(self) -> dict[str, str]:
        return dict(self.spec.executor.env)

    @property
    def env_from_secret(self) -> dict[str, SecretRef]:
        return dict(self.plan.env_from_secret)


@dataclass(frozen=True)
class ExportedGateway:
    spec: GatewaySpec  # front-ends on 0.0.0.0 at fixed ports, edges as service DNS names
    image: str
    replicas: int
    image_pull_secrets: tuple[str, ...] = ()
    ports: list[tuple[str, int]] = field(default_factory=list)  # (protocol, port)

    @property
    def command(self) -> list[str]:
        return [*PYTHON, "gateway", self.spec.model_dump_json(exclude_defaults=True)]


def _executor_in_image(plan: ExecutorPlan, image: str) -> tuple[str, ExecutorSpec]:
    """The image an Executor runs in, and its spec as seen from inside that image."""
    executor = plan.executor
    uses: Any = executor.uses
    fix = (
        "exported containers mount nothing from the host: build the Executor's folder into an image "
        "(`devkit build FOLDER`) and use uses='docker://IMAGE'"
    )
    if isinstance(uses, str) and uses.startswith(HUB_DOCKER):
        from devkit.hub import resolve_docker_uri

        uses = DOCKER + resolve_docker_uri(uses)
    if isinstance(uses, str) and uses.startswith(DOCKER):  # the image holds config.yml in its workdir
        return uses[len(DOCKER) :], executor.model_copy(
            update={"uses": "config.yml", "py_modules": (), "extra_search_paths": ()}
        )
    if isinstance(uses, type):
        raise ConfigError(f"Executor {plan.name!r} uses the class {uses.__qualname__}; {fix}")
    local = [p for p in (uses, *executor.py_modules) if isinstance(p, str) and os.path.exists(p)]
    if local:
        raise ConfigError(f"Executor {plan.name!r} needs the local file(s) {', '.join(local)}; {fix}")
    # a pass-through Executor, or a class name the image provides
    return image, executor.model_copy(update={"extra_search_paths": ()})


def exported_workers(topology: Topology, image: str) -> list[ExportedWorker]:
    """Every local worker, ready to run in a container (external Executors run elsewhere)."""
    workers = []
    for plan in topology.executors:
        for worker in plan.workers:
            worker_image, executor = _executor_in_image(plan, image)
            spec = worker.model_copy(update={"host": "0.0.0.0", "port": WORKER_PORT, "executor": executor})
            workers.append(ExportedWorker(plan, worker.shard_id, worker_image, spec))
    return workers


def _address(namespace: str | None) -> AddressOf:
    def address_of(plan: ExecutorPlan, shard: int, replica: int) -> str:
        if plan.external:
            return plan.external_addresses[replica]
        base = service_name(plan.name)
        host = base if plan.shards == 1 else f"{base}-{shard}"
        if plan.replicas > 1 and namespace is None:  # compose: one service per replica
            host = f"{host}-rep-{replica}"
        return f"{host}.{namespace}.svc:{WORKER_PORT}" if namespace else f"{host}:{WORKER_PORT}"

    return address_of


def exported_gateway(topology: Topology, image: str, namespace: str | None = None) -> ExportedGateway:
    """The gateway with fixed ports (the given ones, else 8080, 8081, ...) and service-name edges.

    ``namespace``: Kubernetes, where one Service balances an Executor's replicas, so each shard
    has one address; ``None``: compose, where each replica is its own service.
    """
    if topology.gateway is None:
        raise ValueError(f"{topology.kind} {topology.name!r} has no gateway")
    if topology.gateway.uses is not None and not isinstance(topology.gateway.uses, str):
        raise ConfigError(
            "a custom gateway class cannot be exported: name it as a string ('module.Class') "
            "in an image that provides it"
        )
    spec = topology.gateway_spec(_address(namespace))
    if namespace is not None:  # one address per shard: the Service balances the replicas
        nodes = tuple(
            node.model_copy(update={"shards": tuple(tuple(dict.fromkeys(s)) for s in node.shards)})
            for node in spec.nodes
        )
        spec = spec.model_copy(update={"nodes": nodes})
    ports = [
        ProtocolPort(protocol=front.protocol, port=front.port or WORKER_PORT + index)
        for index, front in enumerate(spec.protocols)
    ]
    spec = spec.model_copy(
        update={"host": "0.0.0.0", "protocols": tuple(ports), "name": "gateway", "py_modules": ()}
    )
    return ExportedGateway(
        spec=spec,
        image=image,
        replicas=topology.gateway.replicas,
        image_pull_secrets=topology.image_pull_secrets,
        ports=[(p.protocol, p.port) for p in ports],
    )
