"""Typed, immutable descriptions of what to run.

The Python builders, YAML files and the CLI all produce these specs; runtimes and
exporters only read them. Keeping them picklable lets the process runtime ship them to a
child unchanged.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "DeploymentSpec",
    "ExecutorSpec",
    "GatewaySpec",
    "NodeSpec",
    "Polling",
    "RuntimeKind",
    "WorkerSpec",
]

RuntimeKind = Literal["thread", "process"]


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


class GatewaySpec(_Spec):
    """The front door: protocols, port and the topology it walks."""

    name: str = "gateway"
    host: str = "0.0.0.0"
    port: int = 0
    protocol: str = "grpc"
    nodes: tuple[NodeSpec, ...] = ()
    prefetch: int = 0  # 0: no limit
    expose_reflection: bool = True


class DeploymentSpec(_Spec):
    """An Executor served with replicas and shards behind one address."""

    name: str = "executor"
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    host: str = "0.0.0.0"
    port: int | None = None
    protocol: str = "grpc"
    replicas: int = 1
    shards: int = 1
    polling: dict[str, Polling] = Field(default_factory=lambda: {"*": Polling.ANY})
    runtime: RuntimeKind = "thread"
    timeout_ready: float | None = 600.0  # seconds; None waits forever
    timeout_send: float | None = None
    retries: int = -1
    workspace: str | None = None
    exit_on_exceptions: tuple[str, ...] = ()

    @field_validator("replicas", "shards")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1, got {value}")
        return value

    @property
    def needs_front(self) -> bool:
        """Whether a gateway must stand in front of the workers (more than one of them)."""
        return self.replicas > 1 or self.shards > 1

    def worker_specs(self) -> list[WorkerSpec]:
        return [
            WorkerSpec(
                name=self.name,
                executor=self.executor,
                replicas=self.replicas,
                shards=self.shards,
                replica_id=replica,
                shard_id=shard,
                workspace=self.workspace,
                exit_on_exceptions=self.exit_on_exceptions,
            )
            for shard in range(self.shards)
            for replica in range(self.replicas)
        ]
