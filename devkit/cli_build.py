"""From a typed ``devkit`` command to the Deployment or Flow it serves, checked before it starts."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from devkit.cli_input import check_port_free, served_jtype, yaml_file

if TYPE_CHECKING:
    from devkit.cli import FileCommand, ServeExecutorCommand

__all__ = ["check_ports_free", "executor_deployment", "file_orchestrator"]


def executor_deployment(command: ServeExecutorCommand) -> Any:
    """``devkit executor``: one Executor (a class name or an Executor YAML) as a Deployment."""
    from devkit.orchestrate.deployment import Deployment

    uses: str | None = command.uses
    if uses is not None and uses.endswith((".yml", ".yaml")):
        uses = os.path.abspath(yaml_file(uses, "executor --uses"))
    return Deployment(
        uses=uses,
        name=command.name,
        port=command.port,
        host=command.host,
        replicas=command.replicas,
        shards=command.shards,
        polling=command.polling,
        py_modules=list(command.py_modules),
        uses_with=command.uses_with,
        runtime=command.runtime,
        reload=command.reload,
        log_config=command.log_config,
        record=command.record,
    )


def _load_flow(path: str, overrides: dict[str, Any]) -> Any:
    from devkit.orchestrate.flow import Flow

    return Flow.load_config(path, **overrides)


def file_orchestrator(command: FileCommand) -> Any:
    """``devkit deployment|flow|serve``: what the YAML file's ``jtype`` says, with the overrides."""
    from devkit.orchestrate.deployment import Deployment

    overrides: dict[str, Any] = {}
    if command.port is not None:
        overrides["port"] = command.port
    if command.host is not None:
        overrides["host"] = command.host
    if command.runtime is not None:
        overrides["runtime"] = command.runtime
    if command.reload:
        overrides["reload"] = True
    if command.record is not None:
        overrides["record"] = command.record
    jtype = served_jtype(command.path, command.kind)
    if command.kind == "serve":
        overrides.setdefault("runtime", _yaml_runtime(command.path) or "process")
    if jtype == "Flow":
        orchestrator = _load_flow(command.path, overrides)
    elif jtype == "Deployment":
        orchestrator = Deployment.load_config(command.path, **overrides)
    else:  # any other jtype names an Executor class: serve that Executor YAML as a Deployment
        orchestrator = Deployment(uses=os.path.abspath(command.path), **overrides)
    orchestrator.log_config = command.log_config
    return orchestrator


def _yaml_runtime(path: str) -> str | None:
    from devkit.spec.yamlio import read_yaml

    section = read_yaml(path).data.get("with") or {}
    runtime = section.get("runtime") if isinstance(section, dict) else None
    return runtime if isinstance(runtime, str) else None


def check_ports_free(orchestrator: Any) -> None:
    """Every port clients connect to (one per protocol) is free, before anything binds it."""
    from devkit.orchestrate.flow import Flow

    if isinstance(orchestrator, Flow):
        what, spec = f"the gateway of Flow {orchestrator.name!r}", orchestrator.spec.gateway
    else:
        what, spec = f"Deployment {orchestrator.name!r}", orchestrator.spec
    for front in spec.protocols:
        check_port_free(what, spec.host, front.port)
