"""A Flow or Deployment as one docker-compose file (compose 1.27+ format, no ``version`` key).

One service per worker (``encoder-rep-0``, ``indexer-0``, ...) and one for the gateway, which
publishes the Flow's ports and starts once every worker's health check passes
(``depends_on: condition: service_healthy``; compose 1.29 has no ``up --wait``). Health checks
call ``devkit ping``, which asks the gRPC health service (a bare TCP connect is not enough:
docker-proxy accepts one before anything listens). ``init: true`` lets SIGTERM drain.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import yaml

from devkit.export.plan import (
    PYTHON,
    WORKER_PORT,
    ExportedGateway,
    ExportedWorker,
    default_image,
    exported_gateway,
    exported_workers,
)
from devkit.spec.topology import Topology

__all__ = ["to_compose", "write_compose"]

_SCHEMES = {"grpc": "", "http": "http://", "websocket": "ws://"}


def _healthcheck(target: str, protocol: str, port: int) -> dict[str, Any]:
    address = f"{_SCHEMES[protocol]}127.0.0.1:{port}"
    return {
        "test": ["CMD", *PYTHON, "ping", target, address],
        "interval": "2s",
        "timeout": "5s",
        "retries": 60,
        "start_period": "2s",
    }


def _volumes(service: str, volumes: tuple[str, ...], named: dict[str, dict[str, Any]]) -> list[str]:
    """Each volume as a named one (``SERVICE-vol-N``) at its container path: no host folder."""
    mounts = []
    for index, volume in enumerate(volumes):
        path = volume.split(":")[1] if ":" in volume else volume
        name = f"{service}-vol-{index}"
        named[name] = {}
        mounts.append(f"{name}:{path}")
    return mounts


def _worker_service(worker: ExportedWorker, named: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    service: dict[str, Any] = {
        "image": worker.image,
        "init": True,
        "entrypoint": worker.command,
        "expose": [str(WORKER_PORT)],
        "healthcheck": _healthcheck("executor", "grpc", WORKER_PORT),
    }
    if worker.env:
        service["environment"] = worker.env
    if worker.plan.volumes:
        service["volumes"] = _volumes(name, worker.plan.volumes, named)
    return service


def _gateway_services(gateway: ExportedGateway, host: str, workers: list[str]) -> dict[str, Any]:
    protocol, port = gateway.ports[0]
    services = {}
    for replica in range(gateway.replicas):
        service: dict[str, Any] = {
            "image": gateway.image,
            "init": True,
            "entrypoint": gateway.command,
            "expose": [str(p) for _, p in gateway.ports],
            "healthcheck": _healthcheck("gateway", protocol, port),
        }
        if replica == 0:  # the front door: published on the Flow's host and ports
            prefix = "" if host in ("0.0.0.0", "") else f"{host}:"
            service["ports"] = [f"{prefix}{p}:{p}" for _, p in gateway.ports]
        if workers:
            service["depends_on"] = {name: {"condition": "service_healthy"} for name in workers}
        services["gateway" if replica == 0 else f"gateway-rep-{replica}"] = service
    return services


def to_compose(topology: Topology, image: str | None = None) -> dict[str, Any]:
    """The compose document for ``topology``; ``image`` runs the gateway and Executors named
    without an image (default: ``DEVKIT_IMAGE`` or ``devkit-runtime:latest``)."""
    image = image or default_image()
    services: dict[str, Any] = {}
    named: dict[str, dict[str, Any]] = {}
    for worker in exported_workers(topology, image):
        name = worker.service
        if worker.plan.replicas > 1:
            name = f"{name}-rep-{worker.spec.replica_id}"
        services[name] = _worker_service(worker, named, name)
    if topology.gateway is None:  # a lone Executor: its one worker is the front door
        (only,) = services.values()
        port = topology.executors[0].workers[0].port or WORKER_PORT
        host = topology.executors[0].workers[0].host
        prefix = "" if host in ("0.0.0.0", "") else f"{host}:"
        only["ports"] = [f"{prefix}{port}:{WORKER_PORT}"]
    else:
        gateway = exported_gateway(topology, image)
        services.update(_gateway_services(gateway, topology.gateway.host, list(services)))
    document: dict[str, Any] = {"services": services}
    if named:
        document["volumes"] = named
    return document


def write_compose(topology: Topology, path: str | os.PathLike[str] | None, image: str | None = None) -> str:
    """Write the compose file (default ``docker-compose.yml``); return its path."""
    target = pathlib.Path(path or "docker-compose.yml")
    if target.parent != pathlib.Path():
        target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(to_compose(topology, image), sort_keys=False))
    return str(target)
