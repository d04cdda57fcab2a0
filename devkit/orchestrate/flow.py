"""Flow: Executors chained into a DAG behind one gateway.

``Flow().add(uses=A).add(uses=B, needs='gateway').needs_all(uses=Join)`` builds a typed
:class:`~devkit.spec.flow.FlowSpec`; starting it launches every Executor's workers (on the
thread or process runtime chosen per Executor), then the gateway that walks the DAG.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, Self

from devkit.errors import ConfigError
from devkit.hub import resolve_hub_uses
from devkit.observability.spec import TelemetrySpec
from devkit.orchestrate.addressing import Edge
from devkit.orchestrate.base import Orchestrator, ms_to_seconds
from devkit.orchestrate.deployment import parse_polling
from devkit.orchestrate.executor_ports import check_fixed_ports, worker_ports
from devkit.orchestrate.yaml_reload import YamlSource
from devkit.record.spec import Recording
from devkit.runtime.address import Address
from devkit.runtime.default import default_runtime
from devkit.serve.worker import run_worker
from devkit.spec.batching import check_dynamic_batching
from devkit.spec.flow import GATEWAY, FlowExecutorSpec, FlowGatewaySpec, FlowSpec, topology_problems
from devkit.spec.models import (
    DeploymentSpec,
    ExecutorDefaults,
    ExecutorSpec,
    HttpOptions,
    NodeSpec,
    ProtocolPort,
    RuntimeKind,
    SecretRef,
    WorkerSpec,
)
from devkit.spec.topology import ExecutorPlan, Topology, resolve_flow
from devkit.spec.unsupported import reject_unsupported

__all__ = ["Flow"]

#: the ``Flow(...)`` keywords each Executor inherits as they are (timeout_send is converted)
INHERITED = (
    "retries",
    "exit_on_exceptions",
    "env",
    "workspace",
    "py_modules",
    "extra_search_paths",
    "reload",
)


def _protocols(protocol: str | Sequence[str], port: int | Sequence[int] | None) -> tuple[ProtocolPort, ...]:
    try:
        return ProtocolPort.parse(protocol, port)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _runtime(name: str) -> RuntimeKind:
    """A runtime name, checked by the spec's type (one of ``RuntimeKind``)."""
    return DeploymentSpec.model_validate({"runtime": name}).runtime


def _as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _external_addresses(
    host: str | Sequence[str] | None, port: int | str | Sequence[int | str] | None
) -> tuple[str, ...]:
    """``host='h:p'``, ``host='h', port=p`` or lists of both, as ``("h:p", ...)``."""
    hosts = list(_as_tuple(host)) if host is not None else []
    ports = [port] if isinstance(port, (int, str)) else list(port or [])
    if not hosts:
        raise ConfigError("an external Executor needs host= (and port=, unless host is 'host:port')")
    if not ports:
        if not all(":" in h for h in hosts):
            raise ConfigError(f"external Executor host={host!r} has no port; pass port= or host='host:port'")
        return tuple(hosts)
    if len(ports) == 1 and len(hosts) > 1:
        ports = ports * len(hosts)
    if len(hosts) == 1 and len(ports) > 1:
        hosts = hosts * len(ports)
    if len(hosts) != len(ports):
        raise ConfigError(f"external Executor: {len(hosts)} hosts but {len(ports)} ports")
    return tuple(f"{h.split('://')[-1]}:{p}" for h, p in zip(hosts, ports, strict=True))


class Flow(Orchestrator):
    """A gateway plus Executors connected by ``needs``. Timeouts are in milliseconds, as in jina."""

    kind = "Flow"

    def __init__(
        self,
        *,
        name: str = "Flow",
        port: int | Sequence[int] | None = None,
        host: str = "0.0.0.0",
        protocol: str | Sequence[str] = "grpc",
        runtime: str | None = None,  # None: default_runtime() (thread unless a test kit chose)
        prefetch: int = 0,
        timeout_ready: float = 600_000,
        timeout_send: float | None = None,
        retries: int = -1,
        exit_on_exceptions: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        workspace: str | None = None,
        py_modules: str | Sequence[str] | None = None,
        extra_search_paths: Sequence[str] | None = None,
        image_pull_secrets: Sequence[str] | None = None,
        quiet: bool = False,
        strict_contracts: bool = False,
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
        **gateway: Any,
    ) -> None:
        """``gateway`` takes ``config_gateway``'s HTTP options (``cors``, ``title``, ...), as jina's
        ``Flow(...)`` and YAML ``with:`` do. ``record='DIR'`` (or a :class:`~devkit.record.Recording`)
        records every request the gateway answers (see :mod:`devkit.record`)."""
        super().__init__()
        self.restart_on_crash = restart_on_crash  # process/container runtime: restart a server that dies
        self._executors: list[FlowExecutorSpec] = []
        #: tracing of the gateway and, unless ``add`` says otherwise, of every Executor
        self._telemetry = TelemetrySpec.model_validate(  # the spec maps jina's other spelling
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
                port_monitoring=port_monitoring,  # the gateway's; each Executor takes its own in add()
            )
        )
        self._gateway = FlowGatewaySpec(
            host=host,
            protocols=_protocols(protocol, port),
            prefetch=prefetch,
            telemetry=self._telemetry,
            record=None if record is None else Recording.model_validate(record),
        )
        if gateway:
            self.config_gateway(**gateway)
        self._defaults: dict[str, Any] = {
            "runtime": runtime or default_runtime(),
            "timeout_ready": timeout_ready,
            "timeout_send": timeout_send,
            "retries": retries,
            "exit_on_exceptions": tuple(exit_on_exceptions or ()),
            "env": dict(env or {}),
            "workspace": workspace,
            "py_modules": list(_as_tuple(py_modules)),
            "extra_search_paths": list(extra_search_paths or []),
            "image_pull_secrets": tuple(image_pull_secrets or ()),
            "reload": reload,
        }
        self.name = name
        self.quiet = quiet
        self.log_config = log_config
        self.strict_contracts = strict_contracts  # refuse to start when Executors' schemas do not fit
        self._nodes: tuple[NodeSpec, ...] = ()

    # -- building --------------------------------------------------------------------------
    def add(
        self,
        uses: Any = None,
        *,
        name: str | None = None,
        needs: str | Sequence[str] | None = None,
        replicas: int = 1,
        shards: int = 1,
        polling: str | Mapping[str, str] = "ANY",
        uses_with: Mapping[str, Any] | None = None,
        uses_metas: Mapping[str, Any] | None = None,
        uses_requests: Mapping[str, str] | None = None,
        uses_dynamic_batching: Mapping[str, Any] | None = None,
        py_modules: str | Sequence[str] | None = None,
        extra_search_paths: Sequence[str] | None = None,
        workspace: str | None = None,
        env: Mapping[str, str] | None = None,
        when: Mapping[str, Any] | None = None,
        floating: bool = False,
        no_reduce: bool = False,
        host: str | Sequence[str] | None = None,
        port: int | str | Sequence[int | str] | None = None,
        external: bool = False,
        tls: bool = False,
        grpc_metadata: Mapping[str, str] | None = None,
        timeout_send: float | None = None,
        timeout_ready: float | None = None,
        retries: int | None = None,
        exit_on_exceptions: Sequence[str] | None = None,
        runtime: str | None = None,
        env_from_secret: Mapping[str, Mapping[str, str]] | None = None,
        image_pull_secrets: Sequence[str] | None = None,
        volumes: str | Sequence[str] | None = None,
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
    ) -> Self:
        """Add an Executor. Without ``needs`` it follows the previous non-floating Executor.

        ``port`` fixes the port of the Executor's own gRPC server (reachable directly); with
        replicas or shards the servers take it and the ports after it, or one each from a list.
        With ``external=True`` it is where the Executor already listens."""
        name = name or f"executor{len(self._executors)}"
        uses = resolve_hub_uses(uses)  # jinaai:// from the local hub folder
        reject_unsupported(
            f"Flow.add(name={name!r})",
            uses=uses,
        )
        if needs is None:
            previous = [e.name for e in self._executors if not e.floating]
            needs = previous[-1] if previous else GATEWAY
        need_names = _as_tuple(needs)
        if not floating:  # a floating Executor may follow another one (FLOW-16 b)
            self._unfloat(need_names)
        if external or (host is not None and port is None and ":" in str(host)):
            external = True
        elif host is not None and not isinstance(host, str):
            raise ConfigError(
                f"Flow.add(name={name!r}) got host={host!r}: a local Executor binds one host; "
                "pass external=True for replicas served elsewhere"
            )
        defaults = self._defaults
        deployment = DeploymentSpec(
            name=name,
            executor=ExecutorSpec.model_validate(  # the spec's validators normalise the mappings
                {
                    "uses": uses,
                    "uses_with": uses_with,
                    "uses_metas": uses_metas,
                    "uses_requests": uses_requests,
                    "uses_dynamic_batching": uses_dynamic_batching,
                    "py_modules": [*defaults["py_modules"], *_as_tuple(py_modules)],
                    "extra_search_paths": [*defaults["extra_search_paths"], *(extra_search_paths or [])],
                    "workspace": workspace or defaults["workspace"],
                    "env": {**defaults["env"], **(env or {})},
                    "reload": reload or defaults["reload"],
                }
            ),
            host=host if isinstance(host, str) and not external else "127.0.0.1",  # where its workers bind
            replicas=replicas,
            shards=shards,
            worker_ports=() if external else worker_ports(f"Flow.add(name={name!r})", port, replicas, shards),
            polling=parse_polling(polling),
            runtime=_runtime(runtime or defaults["runtime"]),
            timeout_ready=ms_to_seconds(
                timeout_ready if timeout_ready is not None else defaults["timeout_ready"]
            ),
            timeout_send=ms_to_seconds(
                timeout_send if timeout_send is not None else defaults["timeout_send"]
            ),
            retries=retries if retries is not None else defaults["retries"],
            workspace=workspace or defaults["workspace"],
            exit_on_exceptions=tuple(exit_on_exceptions or defaults["exit_on_exceptions"]),
            env_from_secret={
                var: SecretRef.model_validate(ref) for var, ref in (env_from_secret or {}).items()
            },
            image_pull_secrets=(*defaults["image_pull_secrets"], *(image_pull_secrets or ())),
            volumes=_as_tuple(volumes),
            telemetry=self._executor_telemetry(
                TelemetrySpec.model_validate(  # the spec maps jina's other spelling
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
                )
            ),
        )
        check_dynamic_batching(deployment.executor, f"Flow.add(name={name!r})")
        added = FlowExecutorSpec(
            deployment=deployment,
            needs=need_names,
            when=dict(when) if when else None,
            floating=floating,
            no_reduce=no_reduce,
            external=external,
            external_addresses=_external_addresses(host, port) if external else (),
            tls=tls,
            grpc_metadata=dict(grpc_metadata or {}),
        )
        problems = topology_problems([*self._executors, added], complete=False)
        if problems:  # unknown needs may still be added later: start() and load_config report them
            raise ConfigError(f"cannot add Executor {name!r} to the Flow: " + "; ".join(problems))
        self._executors.append(added)
        return self

    def _client_tracing(self) -> dict[str, Any]:
        return self._telemetry.client_options()

    def _executor_telemetry(self, mine: TelemetrySpec) -> TelemetrySpec:
        """The Flow's tracing and metrics, with what ``add`` set for this Executor on top
        (``port_monitoring`` is never inherited: it is the gateway's)."""
        flow = self._telemetry
        return TelemetrySpec(
            tracing=mine.tracing or flow.tracing,
            traces_exporter_host=mine.traces_exporter_host or flow.traces_exporter_host,
            traces_exporter_port=mine.traces_exporter_port or flow.traces_exporter_port,
            metrics=mine.metrics or flow.metrics,
            metrics_exporter_host=mine.metrics_exporter_host or flow.metrics_exporter_host,
            metrics_exporter_port=mine.metrics_exporter_port or flow.metrics_exporter_port,
            monitoring=mine.monitoring or flow.monitoring,
            port_monitoring=mine.port_monitoring,
        )

    def _unfloat(self, needs: tuple[str, ...]) -> None:
        """A floating Executor that a non-floating one needs stops being floating."""
        self._executors = [
            e.model_copy(update={"floating": False}) if e.floating and e.name in needs else e
            for e in self._executors
        ]

    def needs_all(self, uses: Any = None, *, name: str | None = None, **kwargs: Any) -> Self:
        """Add an Executor that needs every Executor nothing else needs yet (the open ends)."""
        needed = {need for e in self._executors for need in e.needs}
        open_ends = [e.name for e in self._executors if e.name not in needed and not e.floating]
        return self.add(uses, name=name or "joiner", needs=open_ends or GATEWAY, **kwargs)

    def config_gateway(
        self,
        *,
        port: int | Sequence[int] | None = None,
        host: str | None = None,
        protocol: str | Sequence[str] | None = None,
        prefetch: int | None = None,
        replicas: int | None = None,
        uses: Any = None,
        uses_with: Mapping[str, Any] | None = None,
        py_modules: str | Sequence[str] | None = None,
        record: str | os.PathLike[str] | Recording | None = None,
        **http: Any,
    ) -> Self:
        """Set the gateway's protocols and ports, limits, HTTP options (``cors``, ``title``,
        ``description``, ``no_debug_endpoints``, ``no_crud_endpoints``, ``expose_endpoints``,
        ``uvicorn_kwargs``, ``ssl_certfile``, ``ssl_keyfile``), a custom gateway (``uses``) or a
        recording of every request (``record``, see :mod:`devkit.record`)."""
        unknown = sorted(set(http) - set(HttpOptions.model_fields))
        if unknown:
            allowed = [
                "port",
                "host",
                "protocol",
                "prefetch",
                "replicas",
                "uses",
                "uses_with",
                "py_modules",
                "record",
            ]
            raise ConfigError(
                f"unknown gateway option(s) {', '.join(unknown)}; known: {', '.join(allowed + list(HttpOptions.model_fields))}"
            )
        current = self._gateway
        update: dict[str, Any] = {}
        if protocol is not None or port is not None:
            names = protocol if protocol is not None else [p.protocol for p in current.protocols]
            update["protocols"] = _protocols(names, port)
        if host is not None:
            update["host"] = host
        if prefetch is not None:
            update["prefetch"] = prefetch
        if replicas is not None:
            update["replicas"] = replicas
        if uses is not None:
            update["uses"] = uses
        if uses_with is not None:
            update["uses_with"] = dict(uses_with)
        if py_modules is not None:
            update["py_modules"] = _as_tuple(py_modules)
        if record is not None:
            update["record"] = Recording.model_validate(record)
        if http:
            update["http"] = HttpOptions.model_validate({**current.http.model_dump(), **http})
        self._gateway = FlowGatewaySpec.model_validate({**current.model_dump(), **update})
        return self

    def expose_endpoint(self, exec_endpoint: str, **kwargs: Any) -> None:
        """Give Executor endpoint ``exec_endpoint`` its own HTTP route; ``kwargs`` (``summary``,
        ``tags``, ``methods``, ...) go into the OpenAPI description."""
        exposed = {**self._gateway.http.expose_endpoints, exec_endpoint: dict(kwargs)}
        self.config_gateway(expose_endpoints=exposed)

    @property
    def spec(self) -> FlowSpec:
        return FlowSpec(
            name=self.name,
            executors=tuple(self._executors),
            gateway=self._gateway,
            runtime=self._defaults["runtime"],
            timeout_ready=ms_to_seconds(self._defaults["timeout_ready"]),
            image_pull_secrets=self._defaults["image_pull_secrets"],
            defaults=ExecutorDefaults(
                timeout_send=ms_to_seconds(self._defaults["timeout_send"]),
                **{key: self._defaults[key] for key in INHERITED},
            ),
        )

    @property
    def topology(self) -> Topology:
        return resolve_flow(self.spec)

    @property
    def executor_names(self) -> list[str]:
        return [e.name for e in self._executors]

    @property
    def protocol(self) -> str:
        """The first protocol (``flow.port`` is its port)."""
        return self._gateway.protocol

    # -- running ---------------------------------------------------------------------------
    def _start(self) -> None:
        if self.strict_contracts:
            from devkit.testing.contracts import enforce_contracts

            enforce_contracts(self)
        topology = resolve_flow(self.spec)  # validates the topology before anything starts
        self._check_runtimes(topology)
        check_fixed_ports(topology)
        addresses = self._start_workers(topology)

        def address_of(plan: ExecutorPlan, shard: int, replica: int) -> str:
            edge = Edge("gateway", plan.name, shard, replica)
            if plan.external:
                return self._dial(edge, plan.external_addresses[replica])
            return self._dial(edge, str(addresses[(plan.name, shard, replica)]))

        gateway = topology.gateway_spec(address_of)
        self._start_gateway(gateway, topology.runtime, topology.timeout_ready)
        self._nodes = gateway.nodes

    def _start_workers(self, topology: Topology) -> dict[tuple[str, int, int], Address]:
        """Start every worker of every local Executor at once; return (name, shard, replica) -> address."""
        addresses: dict[tuple[str, int, int], Address] = {}
        by_runtime: dict[str, list[tuple[ExecutorPlan, WorkerSpec]]] = {}
        for plan in topology.executors:
            for worker in plan.workers:
                by_runtime.setdefault(plan.runtime, []).append((plan, worker))
        for runtime, workers in by_runtime.items():
            timeouts = [plan.timeout_ready for plan, _ in workers]
            batch_timeout = None if None in timeouts else max(t for t in timeouts if t is not None)
            started = self._group.start_batch(
                runtime, [(w.display_name, run_worker, w) for _, w in workers], batch_timeout
            )
            for (plan, worker), address in zip(workers, started, strict=True):
                addresses[(plan.name, worker.shard_id, worker.replica_id)] = address
        return addresses

    def is_flow_ready(self, timeout: float = 3.0) -> bool:
        return self.client.is_flow_ready(timeout)

    def dry_run(self) -> bool:
        return self.client.dry_run()

    # -- YAML ------------------------------------------------------------------------------
    @classmethod
    def load_config(
        cls, source: str | os.PathLike[str], context: Mapping[str, Any] | None = None, **overrides: Any
    ) -> Flow:
        """Build a Flow from ``jtype: Flow`` YAML (``with``, ``executors``, ``gateway``)."""
        from devkit.spec.flow_yaml import load_flow_yaml

        flow = load_flow_yaml(source, cls, context=context, **overrides)
        if flow._defaults.get("reload") and os.path.isfile(source):
            flow.yaml_source = YamlSource(pathlib.Path(source), context, dict(overrides))
        return flow

    def save_config(self, path: str | os.PathLike[str]) -> None:
        from devkit.spec.flow_yaml import save_flow_yaml

        flags = self._flags_to_save()
        if self.strict_contracts:
            flags["strict_contracts"] = True
        save_flow_yaml(self.spec, path, self.log_config, flags)

    # -- diagrams (devkit.plot) ------------------------------------------------------------
    def plot(
        self, output: str | os.PathLike[str] | None = None, *, annotations: Mapping[str, Any] | None = None
    ) -> str:
        """Draw the topology; write ``.svg``, ``.png`` or ``.mmd`` to ``output``; return the SVG.

        ``annotations``: ``{executor name: devkit.plot.NodeAnnotation(...)}`` figures drawn on nodes.
        """
        from devkit.plot import plot_flow

        return plot_flow(self, output, annotations=annotations)

    def to_mermaid(self) -> str:
        from devkit.plot import to_mermaid

        return to_mermaid(self)

    def _repr_svg_(self) -> str:
        from devkit.plot import render_svg

        return render_svg(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        text = f"<Flow {self.name!r}: {len(self._executors)} Executors>"
        return {"image/svg+xml": self._repr_svg_(), "text/plain": text}
