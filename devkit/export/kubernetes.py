"""A Flow or Deployment as Kubernetes manifests: a Deployment (or StatefulSet) and a Service
per Executor shard, and per gateway.

Replicas are the object's ``replicas``; each shard is its own object and Service, and the
gateway fans out to the shards itself (devkit has no head). Readiness and liveness probes
ask the gRPC health service (Kubernetes' ``grpc`` probe); an HTTP or WebSocket-only gateway is
probed with ``GET /`` or a TCP connect. An Executor with ``volumes`` becomes a StatefulSet
with one claim per volume. Files: ``OUT/gateway/gateway.yml``, ``OUT/encoder/encoder.yml``,
``OUT/indexer/indexer-0.yml`` for a Flow; ``OUT/encoder.yml`` (and ``OUT/gateway.yml``) for a
Deployment.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import yaml

from devkit.export.plan import (
    WORKER_PORT,
    ExportedGateway,
    ExportedWorker,
    default_image,
    exported_gateway,
    exported_workers,
    service_name,
)
from devkit.spec.models import SecretRef
from devkit.spec.topology import Topology

__all__ = ["to_kubernetes", "write_kubernetes"]

STORAGE = "1Gi"


def _probe(protocol: str, port: int, *, live: bool) -> dict[str, Any]:
    if protocol == "grpc":
        check: dict[str, Any] = {"grpc": {"port": port}}
    elif protocol == "http":
        check = {"httpGet": {"path": "/", "port": port}}
    else:
        check = {"tcpSocket": {"port": port}}
    timing = (
        {"initialDelaySeconds": 5, "periodSeconds": 10, "failureThreshold": 3}
        if live
        else {
            "periodSeconds": 2,
            "failureThreshold": 1,
        }
    )
    return {**check, "timeoutSeconds": 5, **timing}


def _env(env: dict[str, str], secrets: dict[str, SecretRef]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = [{"name": key, "value": value} for key, value in env.items()]
    entries += [
        {"name": var, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
        for var, ref in secrets.items()
    ]
    return entries


def _objects(
    name: str,
    namespace: str,
    *,
    image: str,
    command: list[str],
    replicas: int,
    ports: list[tuple[str, int]],
    env: list[dict[str, Any]],
    pull_secrets: tuple[str, ...],
    volumes: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """A Deployment (StatefulSet when it has volumes) and the Service in front of it."""
    labels = {"app": name}
    protocol, first = ports[0]
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "ports": [{"name": p[:15], "containerPort": port} for p, port in ports],
        "readinessProbe": _probe(protocol, first, live=False),
        "livenessProbe": _probe(protocol, first, live=True),
    }
    if env:
        container["env"] = env
    claims = [f"{name}-vol-{index}" for index in range(len(volumes))]
    if volumes:
        container["volumeMounts"] = [
            {"name": claim, "mountPath": volume.split(":")[1] if ":" in volume else volume}
            for claim, volume in zip(claims, volumes, strict=True)
        ]
    pod: dict[str, Any] = {"containers": [container], "terminationGracePeriodSeconds": 30}
    if pull_secrets:
        pod["imagePullSecrets"] = [{"name": secret} for secret in pull_secrets]
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    kind = "Deployment"
    if volumes:
        kind = "StatefulSet"
        spec["serviceName"] = name
        spec["volumeClaimTemplates"] = [
            {
                "metadata": {"name": claim},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": STORAGE}}},
            }
            for claim in claims
        ]
    metadata = {"name": name, "namespace": namespace, "labels": labels}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": "ClusterIP",
            "selector": labels,
            "ports": [
                {"name": p[:15], "port": port, "targetPort": port, "protocol": "TCP"} for p, port in ports
            ],
        },
    }
    workload = {"apiVersion": "apps/v1", "kind": kind, "metadata": metadata, "spec": spec}
    return [workload, service]


def _worker_objects(worker: ExportedWorker, namespace: str) -> list[dict[str, Any]]:
    return _objects(
        worker.service,
        namespace,
        image=worker.image,
        command=worker.command,
        replicas=worker.plan.replicas,
        ports=[("grpc", WORKER_PORT)],
        env=_env(worker.env, worker.env_from_secret),
        pull_secrets=worker.plan.image_pull_secrets,
        volumes=worker.plan.volumes,
    )


def _gateway_objects(gateway: ExportedGateway, namespace: str) -> list[dict[str, Any]]:
    return _objects(
        "gateway",
        namespace,
        image=gateway.image,
        command=gateway.command,
        replicas=gateway.replicas,
        ports=gateway.ports,
        env=[],
        pull_secrets=gateway.image_pull_secrets,
    )


def to_kubernetes(
    topology: Topology, namespace: str | None = None, image: str | None = None, include_gateway: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """Relative file path -> the objects it holds."""
    image = image or default_image()
    namespace = namespace or "default"
    flat = topology.kind == "Deployment"
    files: dict[str, list[dict[str, Any]]] = {}
    for worker in exported_workers(topology, image):
        if worker.spec.replica_id:
            continue  # one object per shard: replicas are its ``replicas``
        folder = "" if flat else f"{service_name(worker.plan.name)}/"
        files[f"{folder}{worker.service}.yml"] = _worker_objects(worker, namespace)
    if topology.gateway is not None and include_gateway:
        gateway = exported_gateway(topology, image, namespace=namespace)
        files["gateway.yml" if flat else "gateway/gateway.yml"] = _gateway_objects(gateway, namespace)
    return files


def write_kubernetes(
    topology: Topology,
    directory: str | os.PathLike[str],
    namespace: str | None = None,
    image: str | None = None,
    include_gateway: bool = True,
) -> list[str]:
    """Write the manifests under ``directory``; return the files written."""
    written = []
    for relative, objects in to_kubernetes(topology, namespace, image, include_gateway).items():
        path = pathlib.Path(directory, relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
        written.append(str(path))
    return written
