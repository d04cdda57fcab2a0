"""Deployment: one Executor served with replicas and shards behind one address."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from devkit.errors import ConfigError
from devkit.hub import resolve_hub_uses
from devkit.observability.spec import TelemetrySpec
from devkit.orchestrate.addressing import Edge
from devkit.orchestrate.base import Orchestrator, ms_to_seconds
from devkit.orchestrate.yaml_reload import YamlSource
from devkit.record.spec import Recording
from devkit.runtime.default import default_runtime
from devkit.serve.worker import run_worker
from devkit.spec.batching import check_dynamic_batching
from devkit.spec.models import DeploymentSpec, HttpOptions, Polling
from devkit.spec.topology import ExecutorPlan, Topology, resolve_deployment
from devkit.spec.unsupported import reject_unsupported

__all__ = ["Deployment", "parse_polling"]


def parse_polling(polling: str | Polling | Mapping[str, str | Polling]) -> dict[str, Polling]:
    """``'ANY'``, ``'ALL'`` or ``{'/endpoint': 'ALL', '*': 'ANY'}`` as a typed mapping."""
    if isinstance(polling, (str, Polling)):
        return {"*": Polling.parse(polling)}
    parsed = {endpoint: Polling.parse(value) for endpoint, value in polling.items()}
    parsed.setdefault("*", Polling.ANY)
    return parsed


class Deployment(Orchestrator):
    """Serve one Executor: ``with Deployment(uses=MyExec, replicas=2) as dep: dep.post('/')``.

    With one replica and one shard served over gRPC alone the Executor's own server listens
    on ``port``; with more, or with ``protocol='http'``/``'websocket'`` or several protocols
    (``port`` then one per protocol), a gateway listens there and balances (replicas), fans
    out (shards) and speaks the protocols. HTTP options (``cors``, ``title``, ...) are keywords.
    Timeouts are in milliseconds as in jina (``timeout_ready=-1`` waits forever).
    ``record='DIR'`` (or a :class:`~devkit.record.Recording`) records every request and its
    response at a gateway in front (see :mod:`devkit.record`).
    """

    kind = "Deployment"

    def __init__(
        self,
        uses: Any = None,
        *,
        name: str = "executor",
        port: int | Sequence[int] | None = None,
        host: str = "0.0.0.0",
        protocol: str | Sequence[str] = "grpc",
        replicas: int = 1,
        shards: int = 1,
        polling: str | Mapping[str, str] = "ANY",
        runtime: str | None = None,  # None: default_runtime() (thread unless a test kit chose)
        uses_with: Mapping[str, Any] | None = None,
        uses_metas: Mapping[str, Any] | None = None,
        uses_requests: Mapping[str, str] | None = None,
        uses_dynamic_batching: Mapping[str, Any] | None = None,
        py_modules: str | Sequence[str] | None = None,
        extra_search_paths: Sequence[str] | None = None,
        workspace: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout_ready: float = 600_000,
        timeout_send: float | None = None,
        retries: int = -1,
        exit_on_exceptions: Sequence[str] | None = None,
        env_from_secret: Mapping[str, Mapping[str, str]] | None = None,
        image_pull_secrets: Sequence[str] | None = None,
        volumes: str | Sequence[str] | None = None,
        quiet: bool = False,
        tracing: bool = False,
        monitoring: bool = False,
        metrics: bool = False,
        reload: bool = False,
        traces_exporter_host: str | None = None,
        traces_exporter_port: int | None = None,
        tracing_exporter_host: str | None = None,  # the spelling of jina's YAML example
        tracing_exporter_port: int | None = None,
        metrics_exporter_host: str | None = None,
        metrics_exporter_port: int | None = None,
        port_monitoring: int | None = None,
        restart_on_crash: bool = True,
        log_config: str | None = None,
        record: str | os.PathLike[str] | Recording | None = None,
        **http: Any,
    ) -> None:
        uses = resolve_hub_uses(uses)  # jinaai:// from the local hub folder
        reject_unsupported(f"Deployment {name!r}", uses=uses)
        super().__init__()
        self.restart_on_crash = restart_on_crash  # process/container runtime: restart a server that dies
        unknown = sorted(set(http) - set(HttpOptions.model_fields))
        if unknown:
            raise ConfigError(f"Deployment got unknown argument(s) {', '.join(unknown)}")
        self.http = HttpOptions(**http)
        self.spec = DeploymentSpec.model_validate(  # the spec's validators normalise each value
            {
                "name": name,
                "executor": {
                    "uses": uses,
                    "uses_with": uses_with,
                    "uses_metas": uses_metas,
                    "uses_requests": uses_requests,
                    "uses_dynamic_batching": uses_dynamic_batching,
                    "py_modules": py_modules,
                    "extra_search_paths": extra_search_paths,
                    "workspace": workspace,
                    "env": env,
                    "reload": reload,
                },
                "host": host,
                "port": port,
                "protocol": protocol,
                "replicas": replicas,
                "shards": shards,
                "polling": parse_polling(polling),
                "runtime": runtime or default_runtime(),
                "timeout_ready": ms_to_seconds(timeout_ready),
                "timeout_send": ms_to_seconds(timeout_send),
                "retries": retries,
                "workspace": workspace,
                "exit_on_exceptions": tuple(exit_on_exceptions or ()),
                "env_from_secret": dict(env_from_secret or {}),
                "image_pull_secrets": image_pull_secrets,
                "volumes": volumes,
                "record": record,
                "telemetry": TelemetrySpec.model_validate(  # the spec maps jina's other spelling
                    dict(
                        tracing=tracing,
                        traces_exporter_host=traces_exporter_host,
                        traces_exporter_port=traces_exporter_port,
                        tracing_exporter_host=tracing_exporter_host,
                        tracing_exporter_port=tracing_exporter_port,
                        metrics=metrics,
                        metrics_exporter_host=metrics_exporter_host,
                        metrics_exporter_port=metrics_exporter_port,
                        monitoring=monitoring,
                        port_monitoring=port_monitoring,
                    )
                ),
            }
        )
        check_dynamic_batching(self.spec.executor, f"Deployment {name!r}")
        self.quiet = quiet
        self.log_config = log_config

    @classmethod
    def from_spec(cls, spec: DeploymentSpec, quiet: bool = False) -> Deployment:
        deployment = cls.__new__(cls)
        Orchestrator.__init__(deployment)
        deployment.spec = spec
        deployment.quiet = quiet
        deployment.http = HttpOptions()
        return deployment

    @property
    def name(self) -> str:
        return self.spec.name

    def _client_tracing(self) -> dict[str, Any]:
        return self.spec.telemetry.client_options()

    @property
    def topology(self) -> Topology:
        return resolve_deployment(self.spec, self.http)

    @property
    def entry_name(self) -> str:
        return "gateway" if self.spec.needs_front else self.spec.name

    def _start(self) -> None:
        topology = resolve_deployment(self.spec, self.http)
        self._check_runtimes(topology)
        (plan,) = topology.executors
        items = [(worker.display_name, run_worker, worker) for worker in plan.workers]
        addresses = self._group.start_batch(topology.runtime, items, topology.timeout_ready)
        if topology.gateway is None:
            self._serving(addresses[0], {"grpc": addresses[0].port})
            return

        def address_of(plan: ExecutorPlan, shard: int, replica: int) -> str:
            address = addresses[shard * plan.replicas + replica]
            return self._dial(Edge("gateway", plan.name, shard, replica), str(address))

        self._start_gateway(topology.gateway_spec(address_of), topology.runtime, topology.timeout_ready)

    # -- YAML ------------------------------------------------------------------------------
    @classmethod
    def load_config(cls, source: str | os.PathLike[str], **overrides: Any) -> Deployment:
        """Build a Deployment from ``jtype: Deployment`` YAML (``with:`` holds the arguments)."""
        from devkit.spec.deployment_yaml import load_deployment_yaml

        deployment = load_deployment_yaml(source, cls, **overrides)
        if deployment.spec.executor.reload and os.path.isfile(source):
            deployment.yaml_source = YamlSource(pathlib.Path(source), None, dict(overrides))
        return deployment

    def save_config(self, path: str | os.PathLike[str]) -> None:
        from devkit.spec.deployment_yaml import save_deployment_yaml

        save_deployment_yaml(self.spec, path, self.http, self.log_config, self._flags_to_save())
