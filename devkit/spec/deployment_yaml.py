"""``jtype: Deployment`` YAML: loading into a Deployment and saving one back."""

from __future__ import annotations

import inspect
import os
import pathlib
from typing import Any, TypeVar

import yaml

from devkit.errors import ConfigError
from devkit.observability.spec import TelemetrySpec
from devkit.spec.models import DeploymentSpec, ExecutorSpec, HttpOptions
from devkit.spec.yamlio import read_yaml

D = TypeVar("D")

__all__ = [
    "executor_spec_to_yaml",
    "load_deployment_yaml",
    "save_deployment_yaml",
    "telemetry_to_yaml",
    "uses_to_str",
]


def _deployment_arguments(builder: type[Any]) -> set[str]:
    named = {name for name in inspect.signature(builder.__init__).parameters if name not in ("self", "http")}
    return named | set(HttpOptions.model_fields)  # the HTTP front-end's options


def resolve_relative(value: Any, base: pathlib.Path) -> Any:
    """A relative ``.yml``/``.py`` path in a YAML file is relative to that file."""
    if isinstance(value, str) and value.endswith((".yml", ".yaml", ".py")) and not os.path.isabs(value):
        candidate = base / value
        if candidate.exists():
            return str(candidate)
    return value


def load_deployment_yaml(source: str | os.PathLike[str], builder: type[D], **overrides: Any) -> D:
    """Build the Deployment in ``source`` with ``builder`` (the Deployment class), which takes the
    file's ``with:`` as keyword arguments: a file accepts exactly what ``Deployment(...)`` does."""
    doc = read_yaml(source)
    doc.reject_unknown(("jtype", "with"), "Deployment YAML")
    if doc.data.get("jtype") != "Deployment":
        raise ConfigError(
            f"{doc.where('jtype')}: expected 'jtype: Deployment', got {doc.data.get('jtype')!r}"
        )
    arguments = dict(doc.data.get("with") or {})
    allowed = _deployment_arguments(builder)
    unknown = sorted(set(arguments) - allowed)
    if unknown:
        raise ConfigError(
            f"{doc.where('with')}: unknown Deployment argument(s) {unknown}; allowed: {sorted(allowed)}"
        )
    arguments["uses"] = resolve_relative(arguments.get("uses"), doc.base_dir)
    modules = arguments.get("py_modules") or []
    arguments["py_modules"] = [
        resolve_relative(m, doc.base_dir) for m in ([modules] if isinstance(modules, str) else modules)
    ]
    arguments["extra_search_paths"] = [*arguments.get("extra_search_paths", []), str(doc.base_dir)]
    arguments.update(overrides)
    return builder(**arguments)


def uses_to_str(uses: Any) -> Any:
    if isinstance(uses, type):
        return f"{uses.__module__}.{uses.__qualname__}"
    return uses


def executor_spec_to_yaml(spec: ExecutorSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"uses": uses_to_str(spec.uses)}
    for key in ("uses_with", "uses_metas", "uses_requests", "uses_dynamic_batching", "env"):
        value = getattr(spec, key)
        if value:
            data[key] = dict(value)
    if spec.py_modules:
        data["py_modules"] = list(spec.py_modules)
    if spec.workspace:
        data["workspace"] = spec.workspace
    return data


def telemetry_to_yaml(telemetry: TelemetrySpec, inherited: TelemetrySpec | None = None) -> dict[str, Any]:
    """The tracing, metrics and monitoring options that differ from ``inherited`` (default: off),
    under the names ``Deployment(...)``, ``Flow(...)`` and ``add`` take."""
    base = (inherited or TelemetrySpec()).model_dump()
    return {key: value for key, value in telemetry.model_dump().items() if value != base[key]}


def save_deployment_yaml(
    spec: DeploymentSpec,
    path: str | os.PathLike[str],
    http: HttpOptions | None = None,
    log_config: str | None = None,
) -> None:
    """Write the arguments that differ from the defaults, the HTTP front-end's and the
    observability options (``log_config`` too) included."""
    arguments: dict[str, Any] = {"name": spec.name, **executor_spec_to_yaml(spec.executor)}
    defaults = DeploymentSpec()
    for key in ("port", "protocol", "replicas", "shards", "runtime", "retries"):
        value = getattr(spec, key)
        if value != getattr(defaults, key):
            arguments[key] = list(value) if isinstance(value, tuple) else value
    if spec.polling != defaults.polling:
        arguments["polling"] = {endpoint: value.value for endpoint, value in spec.polling.items()}
    if spec.record is not None:
        arguments["record"] = spec.record.model_dump()
    if http is not None:
        arguments.update(http.model_dump(mode="json", exclude_defaults=True))
    arguments.update(telemetry_to_yaml(spec.telemetry))
    if log_config is not None:
        arguments["log_config"] = str(log_config)
    pathlib.Path(path).write_text(yaml.safe_dump({"jtype": "Deployment", "with": arguments}, sort_keys=False))
