"""Typed, immutable descriptions of what to run.

The Python builders, YAML files and the CLI all produce these specs; runtimes and
exporters only read them. Keeping them picklable lets the process runtime ship them to a
child unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from devkit.observability.spec import TelemetrySpec
from devkit.record.spec import Recording

__all__ = [
    "GATEWAY_PROTOCOLS",
    "RUNTIME_KINDS",
    "DeploymentSpec",
    "ExecutorDefaults",
    "ExecutorSpec",
    "GatewayOptions",
    "GatewaySpec",
    "HttpOptions",
    "NodeSpec",
    "Polling",
    "ProtocolPort",
    "RuntimeKind",
    "SecretRef",
    "WorkerSpec",
]

#: The runtimes a server can run on; the one place their names are written.
RuntimeKind = Literal["thread", "process", "container"]
RUNTIME_KINDS: tuple[RuntimeKind, ...] = get_args(RuntimeKind)


class Polling(StrEnum):
    """How a request reaches the shards of an Executor."""

    ANY = "ANY"  # one shard, chosen round-robin
    ALL = "ALL"  # every shard; their results are reduced

    @classmethod
    def parse(cls, value: str | Polling) -> Polling:
        try:
            return cls(value.upper() if isinstance(value, str) else value)
        except ValueError:
            raise ValueError(f"polling must be 'ANY' or 'ALL', got {value!r}") from None


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class ExecutorSpec(_Spec):
    """Which Executor to build and how to configure it."""

    uses: Any = None  # a class, 'module.Class', 'ClassName', 'file.yml', or None (pass-through)
    uses_with: dict[str, Any] = Field(default_factory=dict)
    uses_metas: dict[str, Any] = Field(default_factory=dict)
    uses_requests: dict[str, str] = Field(default_factory=dict)
    uses_dynamic_batching: dict[str, Any] = Field(default_factory=dict)
    py_modules: tuple[str, ...] = ()
    extra_search_paths: tuple[str, ...] = ()
    workspace: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    reload: bool = False  # rebuild the Executor in place when its .py or YAML files change

    @field_validator("uses_with", "uses_metas", "uses_requests", "uses_dynamic_batching", mode="before")
    @classmethod
    def _dictify(cls, value: Any) -> Any:
        return {} if value is None else dict(value)

    @field_validator("env", mode="before")
    @classmethod
    def _env_strings(cls, value: Any) -> Any:
        """Environment values are strings; ``env={'N': 3}`` means ``'3'``."""
        return {str(key): str(item) for key, item in (value or {}).items()}

    @field_validator("py_modules", "extra_search_paths", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        if value is None:
            return ()
        return (value,) if isinstance(value, str) else tuple(value)


class ExecutorDefaults(_Spec):
    """What every Executor of a Flow takes from ``Flow(...)`` unless ``add`` says otherwise;
    saving a Flow writes these once and, per Executor, only what differs from them."""

    timeout_send: float | None = None  # seconds; None: no limit
    retries: int = -1
    exit_on_exceptions: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    workspace: str | None = None
    py_modules: tuple[str, ...] = ()
    extra_search_paths: tuple[str, ...] = ()
    reload: bool = False

    @field_validator("env", mode="before")
    @classmethod
    def _env_strings(cls, value: Any) -> Any:
        return {str(key): str(item) for key, item in (value or {}).items()}


class WorkerSpec(_Spec):
    """One running copy of an Executor: a replica of one shard."""

    name: str
    executor: ExecutorSpec
    host: str = "127.0.0.1"
    port: int = 0  # 0: let the OS choose
    replicas: int = 1
    shards: int = 1
    replica_id: int = 0
    shard_id: int = 0
    workspace: str | None = None
    exit_on_exceptions: tuple[str, ...] = ()  # exception class names that stop this worker
    telemetry: TelemetrySpec = Field(default_factory=TelemetrySpec)

    @property
    def display_name(self) -> str:
        name = self.name if self.shards == 1 else f"{self.name}-{self.shard_id}"
        return f"{name}/rep-{self.replica_id}"


class NodeSpec(_Spec):
    """An Executor as the gateway sees it: where its shards and replicas listen."""

    name: str
    shards: tuple[tuple[str, ...], ...]  # shard -> replica addresses ("host:port")
    polling: dict[str, Polling] = Field(default_factory=lambda: {"*": Polling.ANY})
    needs: tuple[str, ...] = ()
    when: dict[str, Any] | None = None
    floating: bool = False
    no_reduce: bool = False
    timeout_send: float | None = None  # seconds
    retries: int = -1  # -1: try every replica once more on UNAVAILABLE
    tls: bool = False
    grpc_metadata: dict[str, str] = Field(default_factory=dict)
    external: bool = False

    def polling_for(self, endpoint: str) -> Polling:
        return self.polling.get(endpoint) or self.polling.get("*") or Polling.ANY


GatewayProtocol = Literal["grpc", "http", "websocket"]
GATEWAY_PROTOCOLS: tuple[GatewayProtocol, ...] = ("grpc", "http", "websocket")


class ProtocolPort(_Spec):
    """One front-end of a gateway: a protocol and the port it listens on (0: any free port)."""

    protocol: GatewayProtocol = "grpc"
    port: int = 0

    @classmethod
    def parse(
        cls, protocol: str | Sequence[str] | None, port: int | Sequence[int] | None = None
    ) -> tuple[ProtocolPort, ...]:
        """``protocol='http'`` or ``['grpc', 'http']`` with ``port=`` one port per protocol."""
        names = [protocol] if isinstance(protocol, str) else list(protocol or ["grpc"])
        unknown = [name for name in names if str(name).lower() not in GATEWAY_PROTOCOLS]
        if unknown or not names:
            raise ValueError(
                f"protocol must be one or a list of {', '.join(GATEWAY_PROTOCOLS)} "
                f"(any case), got {protocol!r}"
            )
        ports = [port] if isinstance(port, int) else list(port or [])
        if ports and len(ports) != len(names):
            raise ValueError(
                f"{len(names)} protocols {names} need as many ports, got port={port!r}; "
                "pass one port per protocol, in the same order"
            )
        lowered = [str(name).lower() for name in names]
        if len(set(lowered)) != len(lowered):
            raise ValueError(f"protocol={protocol!r} lists a protocol twice; list each once")
        return tuple(
            cls(protocol=name, port=int(ports[i]) if ports and ports[i] is not None else 0)  # type: ignore[arg-type]
            for i, name in enumerate(lowered)
        )


class HttpOptions(_Spec):
    """What the HTTP front-end exposes (jina's gateway arguments of the same names)."""

    title: str | None = None
    description: str | None = None
    cors: bool = False
    no_debug_endpoints: bool = False  # hides /status and /post
    no_crud_endpoints: bool = False  # hides /index, /search, /update, /delete
    expose_endpoints: dict[str, dict[str, Any]] = Field(default_factory=dict)
    uvicorn_kwargs: dict[str, Any] = Field(default_factory=dict)
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @field_validator("expose_endpoints", mode="before")
    @classmethod
    def _json_map(cls, value: Any) -> Any:
        """jina passes ``expose_endpoints`` as a JSON string; a mapping is accepted too."""
        if isinstance(value, str):
            import json

            return json.loads(value)
        return {} if value is None else value

    @field_validator("uvicorn_kwargs", mode="before")
    @classmethod
    def _dictify(cls, value: Any) -> Any:
        return {} if value is None else dict(value)


class SecretRef(_Spec):
    """A Kubernetes Secret's key (``env_from_secret={'VAR': {'name': ..., 'key': ...}}``)."""

    name: str
    key: str


class GatewayOptions(_Spec):
    """Everything ``config_gateway`` sets: front-ends, limits, HTTP options, a custom gateway."""

    host: str = "0.0.0.0"
    replicas: int = 1  # exported manifests only: copies of the gateway behind one service

    @field_validator("replicas")
    @classmethod
    def _positive_replicas(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"gateway replicas must be at least 1, got {value}")
        return value

    protocols: tuple[ProtocolPort, ...] = (ProtocolPort(),)
    prefetch: int = 0  # 0: no limit
    http: HttpOptions = Field(default_factory=HttpOptions)
    uses: Any = None  # a custom Gateway class, 'module.Class', or a gateway YAML file
    uses_with: dict[str, Any] = Field(default_factory=dict)
    py_modules: tuple[str, ...] = ()
    telemetry: TelemetrySpec = Field(default_factory=TelemetrySpec)
    record: Recording | None = None  # record every request and response (devkit.record); None: off

    @property
    def protocol(self) -> str:
        """The first protocol: the one health checks and the implicit client use."""
        return self.protocols[0].protocol

    @property
    def port(self) -> int:
        return self.protocols[0].port


class GatewaySpec(GatewayOptions):
    """The front door: one front-end per protocol over one topology walk."""

    name: str = "gateway"
    nodes: tuple[NodeSpec, ...] = ()
    expose_reflection: bool = True


class DeploymentSpec(_Spec):
    """An Executor served with replicas and shards behind one address."""

    name: str = "executor"
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    host: str = "0.0.0.0"
    port: int | tuple[int, ...] | None = None  # one per protocol
    protocol: str | tuple[str, ...] = "grpc"
    replicas: int = 1
    shards: int = 1
    worker_ports: tuple[int, ...] = ()  # Flow.add(port=): each worker's, shard-major; (): free ports
    polling: dict[str, Polling] = Field(default_factory=lambda: {"*": Polling.ANY})
    runtime: RuntimeKind = "thread"
    timeout_ready: float | None = 600.0  # seconds; None waits forever
    timeout_send: float | None = None
    retries: int = -1
    workspace: str | None = None
    exit_on_exceptions: tuple[str, ...] = ()
    telemetry: TelemetrySpec = Field(default_factory=TelemetrySpec)
    record: Recording | None = None  # record requests at a gateway in front (devkit.record)
    # exported manifests only (docker-compose, Kubernetes):
    env_from_secret: dict[str, SecretRef] = Field(default_factory=dict)  # Kubernetes only
    image_pull_secrets: tuple[str, ...] = ()  # Kubernetes only
    volumes: tuple[str, ...] = ()  # "[host_or_name:]/path/in/container"; a named volume each

    @field_validator("image_pull_secrets", "volumes", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        if value is None:
            return ()
        return (value,) if isinstance(value, str) else tuple(value)

    @field_validator("replicas", "shards")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1, got {value}")
        return value

    @model_validator(mode="after")
    def _one_port_per_worker(self) -> DeploymentSpec:
        count = self.replicas * self.shards
        if self.worker_ports and len(self.worker_ports) != count:
            raise ValueError(
                f"worker_ports lists {len(self.worker_ports)} ports for {self.replicas} replicas x "
                f"{self.shards} shards = {count} workers; list one per worker or none"
            )
        return self

    @property
    def needs_front(self) -> bool:
        """Whether a gateway must stand in front of the workers: more than one of them, or a
        protocol other than gRPC alone (workers speak gRPC only), or a recording (made at a gateway)."""
        return self.replicas > 1 or self.shards > 1 or self.protocol != "grpc" or self.record is not None

    @property
    def protocols(self) -> tuple[ProtocolPort, ...]:
        """The front-ends: each protocol with its port (0 where none was given)."""
        return ProtocolPort.parse(self.protocol, self.port)

    @model_validator(mode="after")
    def _ports_match(self) -> DeploymentSpec:
        self.protocols  # noqa: B018  # raises when ports and protocols do not pair up
        return self

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocols(cls, value: Any) -> Any:
        """Lower-cased; a list of one is that protocol."""
        names = tuple(p.protocol for p in ProtocolPort.parse(value))
        return names[0] if len(names) == 1 else names

    @field_validator("port", mode="before")
    @classmethod
    def _ports(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return value[0] if len(value) == 1 else tuple(value)
        return value

    def worker_specs(self) -> list[WorkerSpec]:
        """One per replica of each shard, bound to this Deployment's host (loopback for a wildcard)."""
        from devkit.runtime.address import dialable  # devkit.runtime imports this module

        host = dialable(self.host)
        return [
            WorkerSpec(
                name=self.name,
                executor=self.executor,
                host=host,
                port=self.worker_ports[shard * self.replicas + replica] if self.worker_ports else 0,
                replicas=self.replicas,
                shards=self.shards,
                replica_id=replica,
                shard_id=shard,
                workspace=self.workspace,
                exit_on_exceptions=self.exit_on_exceptions,
                # one port_monitoring cannot serve several workers: the others take a free port
                telemetry=self.telemetry
                if (shard, replica) == (0, 0) and not self.needs_front
                else self.telemetry.model_copy(update={"port_monitoring": None}),
            )
            for shard in range(self.shards)
            for replica in range(self.replicas)
        ]
