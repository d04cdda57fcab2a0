"""``jtype: Flow`` YAML: ``with`` (Flow arguments), ``executors`` (one ``add`` each), ``gateway``.

Unknown keys are errors that name the file and line. ``${{ ENV.X }}`` and
``${{ CONTEXT.X }}`` are substituted on reading; ``${{ executors.NAME.KEY }}`` takes the
value of ``KEY`` of the Executor called ``NAME`` in the same file.
"""

from __future__ import annotations

import inspect
import os
import pathlib
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from devkit.errors import ConfigError
from devkit.runtime.default import default_runtime
from devkit.spec.deployment_yaml import (
    executor_spec_to_yaml,
    resolve_relative,
    run_options_to_yaml,
    seconds_to_ms,
    telemetry_to_yaml,
    with_base_dir,
)
from devkit.spec.flow import GATEWAY, FlowGatewaySpec, FlowSpec, topology_problems
from devkit.spec.models import DeploymentSpec, HttpOptions
from devkit.spec.yamlio import YamlDocument, read_yaml, write_yaml

__all__ = ["FlowBuilder", "load_flow_yaml", "save_flow_yaml"]


class FlowBuilder(Protocol):
    """What builds a Flow spec (``devkit.Flow``): the YAML reader calls it as Python code would,
    so a file accepts exactly the arguments ``Flow(...)``, ``add`` and ``config_gateway`` take."""

    @property
    def add(self) -> Callable[..., Any]: ...

    @property
    def config_gateway(self) -> Callable[..., Any]: ...

    @property
    def spec(self) -> FlowSpec: ...


F = TypeVar("F", bound=FlowBuilder)

FLOW_KEYS = ("jtype", "version", "with", "executors", "gateway", "jcloud")
GATEWAY_KEYS = (
    "port",
    "host",
    "replicas",
    "protocol",
    "prefetch",
    "uses",
    "uses_with",
    "with",
    "py_modules",
    "record",
    *HttpOptions.model_fields,
)
_EXECUTOR_REF = re.compile(r"\$\{\{\s*executors\.([\w\-]+)\.([\w\-]+)\s*\}\}")


def _parameters(fn: Any) -> set[str]:
    return {
        name
        for name, p in inspect.signature(fn).parameters.items()
        if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    }


def _check_keys(
    doc: YamlDocument, given: Mapping[str, Any], allowed: set[str], path: tuple[str | int, ...], what: str
) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        places = ", ".join(f"{key!r} at {doc.source}:{doc.line_of(*path, key) or '?'}" for key in unknown)
        raise ConfigError(f"unknown {what} key(s) {places}; allowed: {sorted(allowed)}")


def _resolve_refs(items: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    by_name = {item.get("name"): item for item in items}

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if not isinstance(value, str):
            return value
        match = _EXECUTOR_REF.fullmatch(value.strip())
        if match:
            name, key = match.groups()
            if name not in by_name or key not in by_name[name]:
                raise ConfigError(f"{source}: {value!r} refers to a missing Executor or key")
            return by_name[name][key]
        return value

    return [resolve(item) for item in items]


def _executor_arguments(item: dict[str, Any], base: pathlib.Path) -> dict[str, Any]:
    arguments = dict(item)
    uses = arguments.get("uses")
    if isinstance(uses, dict):  # an inline Executor YAML mapping
        arguments["uses"] = uses.get("jtype")
        arguments["uses_with"] = {**uses.get("with", {}), **arguments.get("uses_with", {})}
        arguments["uses_metas"] = {**uses.get("metas", {}), **arguments.get("uses_metas", {})}
        modules = uses.get("py_modules") or []
        arguments["py_modules"] = [
            *([modules] if isinstance(modules, str) else modules),
            *arguments.get("py_modules", []),
        ]
    arguments["uses"] = resolve_relative(arguments.get("uses"), base)
    modules = arguments.get("py_modules") or []
    modules = [modules] if isinstance(modules, str) else modules
    arguments["py_modules"] = [resolve_relative(m, base) for m in modules]
    arguments["extra_search_paths"] = with_base_dir(arguments.get("extra_search_paths"), base)
    return arguments


def load_flow_yaml(
    source: str | os.PathLike[str],
    builder: type[F],
    context: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> F:
    """Build the Flow in ``source`` with ``builder`` (the Flow class)."""
    doc = read_yaml(source, context)
    doc.reject_unknown(FLOW_KEYS, "Flow YAML")
    if doc.data.get("jtype") != "Flow":
        raise ConfigError(f"{doc.where('jtype')}: expected 'jtype: Flow', got {doc.data.get('jtype')!r}")
    with_ = dict(doc.data.get("with") or {})
    flow_args = _parameters(builder.__init__) | set(HttpOptions.model_fields)  # jina takes them in ``with``
    _check_keys(doc, with_, flow_args, ("with",), "Flow 'with'")
    gateway = dict(doc.data.get("gateway") or {})
    _check_keys(doc, gateway, set(GATEWAY_KEYS), ("gateway",), "gateway")
    items = doc.data.get("executors") or []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ConfigError(f"{doc.where('executors')}: 'executors' must be a list of mappings")
    add_args = _parameters(builder.add)
    for index, item in enumerate(items):
        _check_keys(doc, item, add_args, ("executors", index), f"executors[{index}]")
    flow = builder(**{**with_, **overrides})
    if gateway:
        if "with" in gateway:  # a custom gateway's arguments, as jina spells them in YAML
            gateway["uses_with"] = {**gateway.pop("with"), **gateway.get("uses_with", {})}
        if gateway.get("py_modules"):
            modules = gateway["py_modules"]
            modules = [modules] if isinstance(modules, str) else modules
            gateway["py_modules"] = [resolve_relative(m, doc.base_dir) for m in modules]
        if isinstance(gateway.get("uses"), str):
            gateway["uses"] = resolve_relative(gateway["uses"], doc.base_dir)
        flow.config_gateway(**gateway)
    for index, item in enumerate(_resolve_refs(items, doc.source)):
        try:
            flow.add(**_executor_arguments(item, doc.base_dir))
        except ConfigError as exc:
            raise ConfigError(f"{doc.source}:{doc.line_of('executors', index) or '?'}: {exc}") from exc
    problems = topology_problems(flow.spec.executors)  # the whole file is read: needs must all exist
    if problems:
        raise ConfigError(f"{doc.where('executors')}: invalid Flow topology: " + "; ".join(problems))
    return flow


def _flow_executor_to_yaml(spec: FlowSpec) -> list[dict[str, Any]]:
    """Each Executor as an ``add``: only what differs from what it takes from the Flow."""
    items: list[dict[str, Any]] = []
    flow = spec.defaults
    # what an Executor takes from the Flow's options (port_monitoring is the gateway's alone)
    inherited = DeploymentSpec(
        runtime=spec.runtime,
        timeout_ready=spec.timeout_ready,
        timeout_send=flow.timeout_send,
        retries=flow.retries,
        exit_on_exceptions=flow.exit_on_exceptions,
        image_pull_secrets=spec.image_pull_secrets,
    )
    telemetry = spec.gateway.telemetry.model_copy(update={"port_monitoring": None})
    previous: str = GATEWAY
    for e in spec.executors:
        d = e.deployment
        what = f"Flow {spec.name!r}, Executor {e.name!r}"
        item: dict[str, Any] = {"name": e.name, **executor_spec_to_yaml(d.executor, what, flow)}
        item.update(telemetry_to_yaml(d.telemetry, telemetry))
        if e.needs != (previous,):
            item["needs"] = list(e.needs)
        item.update(run_options_to_yaml(d, inherited))
        for key in ("when", "floating", "no_reduce", "tls", "grpc_metadata"):
            value = getattr(e, key)
            if value:
                item[key] = value
        if e.external:
            item.update(external=True, host=list(e.external_addresses))
            if d.executor.uses is None:
                item.pop("uses")
        else:
            if d.host != "127.0.0.1":  # where its workers bind
                item["host"] = d.host
            if d.worker_ports:
                ports = list(d.worker_ports)
                item["port"] = ports[0] if len(ports) == 1 else ports
        items.append(item)
        if not e.floating:
            previous = e.name
    return items


def _gateway_to_yaml(gateway: FlowGatewaySpec) -> dict[str, Any]:
    data: dict[str, Any] = {}
    protocols = [p.protocol for p in gateway.protocols]
    ports = [p.port for p in gateway.protocols]
    if protocols != ["grpc"]:
        data["protocol"] = protocols[0] if len(protocols) == 1 else protocols
    if any(ports):
        data["port"] = ports[0] if len(ports) == 1 else ports
    if gateway.host != "0.0.0.0":
        data["host"] = gateway.host
    if gateway.prefetch:
        data["prefetch"] = gateway.prefetch
    if gateway.replicas != 1:
        data["replicas"] = gateway.replicas
    defaults = HttpOptions().model_dump()
    data.update({k: v for k, v in gateway.http.model_dump().items() if v != defaults[k]})
    if gateway.uses is not None:
        if not isinstance(gateway.uses, str):
            raise ConfigError(
                "a Flow with a custom gateway class saves to YAML only when uses= names it as a string "
                "('module.Class' or 'ClassName' with py_modules)"
            )
        data["uses"] = gateway.uses
    if gateway.uses_with:
        data["with"] = gateway.uses_with
    if gateway.py_modules:
        data["py_modules"] = list(gateway.py_modules)
    if gateway.record is not None:
        data["record"] = gateway.record.model_dump()
    return data


def save_flow_yaml(
    spec: FlowSpec,
    path: str | os.PathLike[str],
    log_config: str | None = None,
    flags: Mapping[str, Any] | None = None,
) -> None:
    """Write ``spec`` as ``jtype: Flow`` YAML that :func:`load_flow_yaml` reads back into it.

    ``with:`` holds the Flow's own options and what its Executors inherit (written once), plus
    the orchestrator's ``flags`` (``quiet``, ``restart_on_crash``, ...) that differ from default.
    """
    data: dict[str, Any] = {"jtype": "Flow", "version": "1"}
    with_: dict[str, Any] = {"name": spec.name} if spec.name != "Flow" else {}
    if spec.runtime != "thread" or default_runtime() != "thread":
        with_["runtime"] = spec.runtime  # explicit where a test kit's default would read it otherwise
    if spec.timeout_ready != FlowSpec().timeout_ready:
        with_["timeout_ready"] = seconds_to_ms(spec.timeout_ready)
    if spec.defaults.timeout_send is not None:
        with_["timeout_send"] = seconds_to_ms(spec.defaults.timeout_send)
    for key, value in spec.defaults.model_dump(exclude_defaults=True, exclude={"timeout_send"}).items():
        with_[key] = list(value) if isinstance(value, tuple) else value
    with_.update(telemetry_to_yaml(spec.gateway.telemetry))  # the Flow's, which the gateway holds
    if log_config is not None:
        with_["log_config"] = str(log_config)
    if spec.image_pull_secrets:
        with_["image_pull_secrets"] = list(spec.image_pull_secrets)
    with_.update(flags or {})
    if with_:
        data["with"] = with_
    gateway = _gateway_to_yaml(spec.gateway)
    if gateway:
        data["gateway"] = gateway
    data["executors"] = _flow_executor_to_yaml(spec)
    write_yaml(data, path, f"Flow {spec.name!r}")
