"""``jtype: Deployment`` YAML: loading into a Deployment and saving one back."""

from __future__ import annotations

import inspect
import os
import pathlib
import sys
import warnings
from collections.abc import Mapping
from typing import Any, TypeVar

from devkit.errors import ConfigError
from devkit.observability.spec import TelemetrySpec
from devkit.runtime.default import default_runtime
from devkit.spec.models import DeploymentSpec, ExecutorDefaults, ExecutorSpec, HttpOptions
from devkit.spec.yamlio import read_yaml, write_yaml

D = TypeVar("D")

__all__ = [
    "executor_spec_to_yaml",
    "load_deployment_yaml",
    "run_options_to_yaml",
    "save_deployment_yaml",
    "seconds_to_ms",
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


def with_base_dir(paths: Any, base: pathlib.Path) -> list[str]:
    """``extra_search_paths`` with the YAML file's folder last, once (a saved file lists it)."""
    listed = [paths] if isinstance(paths, str) else list(paths or [])
    return listed if str(base) in listed else [*listed, str(base)]


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
    arguments["extra_search_paths"] = with_base_dir(arguments.get("extra_search_paths"), doc.base_dir)
    arguments.update(overrides)
    return builder(**arguments)


def _importable_as(cls: type) -> str | None:
    """``'module.Qualname'`` when importing that name gives back ``cls``, else None."""
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        return None
    found: Any = sys.modules.get(cls.__module__)
    for part in cls.__qualname__.split("."):
        found = getattr(found, part, None)
    return f"{cls.__module__}.{cls.__qualname__}" if found is cls else None


def uses_to_str(uses: Any, what: str = "uses") -> Any:
    """``uses`` as YAML names it: a class by ``'module.Class'``; a class no module name reaches
    (defined in a function or in ``__main__``) by its bare registered name, with a warning that
    the file loads only where that class is imported; anything else YAML cannot hold raises."""
    if uses is None or isinstance(uses, str):
        return uses
    if isinstance(uses, type):
        dotted = _importable_as(uses)
        if dotted is not None:
            return dotted
        from devkit.executor.base import Executor  # devkit.executor imports this package

        name, module, qualname = uses.__name__, uses.__module__, uses.__qualname__
        if Executor._registry.get(name) is uses:
            where = "in __main__" if module == "__main__" else f"inside a function ({qualname})"
            warnings.warn(
                f"{what}: uses={uses!r} is defined {where}, so no module name reaches it; saved as "
                f"{name!r}, which loads only where that class is imported. Move it to a module "
                "and save again, or list its file in py_modules",
                UserWarning,
                stacklevel=3,
            )
            return name
    raise ConfigError(
        f"{what}: uses={uses!r} cannot be written to YAML; pass an Executor class defined at a "
        "module's top level, or uses='module.Class' / 'file.yml'"
    )


def _suffix(values: tuple[str, ...], prefix: tuple[str, ...]) -> tuple[str, ...]:
    """What ``add`` appended to the inherited ``prefix`` (the loader prepends it again)."""
    return values[len(prefix) :] if values[: len(prefix)] == prefix else values


def executor_spec_to_yaml(
    spec: ExecutorSpec, what: str = "uses", inherited: ExecutorDefaults | None = None
) -> dict[str, Any]:
    """The Executor's options that differ from ``inherited`` (a Flow's; default: none)."""
    base = inherited or ExecutorDefaults()
    data: dict[str, Any] = {"uses": uses_to_str(spec.uses, what)}
    for key in ("uses_with", "uses_metas", "uses_requests", "uses_dynamic_batching"):
        value = getattr(spec, key)
        if value:
            data[key] = dict(value)
    env = {key: value for key, value in spec.env.items() if base.env.get(key) != value}
    if env:
        data["env"] = env
    for key in ("py_modules", "extra_search_paths"):
        own = _suffix(getattr(spec, key), getattr(base, key))
        if own:
            data[key] = list(own)
    if spec.workspace != base.workspace:
        data["workspace"] = spec.workspace
    if spec.reload and not base.reload:
        data["reload"] = True
    return data


def seconds_to_ms(value: float | None) -> float:
    """A timeout in seconds (None: forever) in jina's milliseconds (-1: forever)."""
    if value is None:
        return -1
    ms = round(value * 1000.0, 6)
    return int(ms) if ms == int(ms) else ms


def run_options_to_yaml(spec: DeploymentSpec, inherited: DeploymentSpec) -> dict[str, Any]:
    """How ``spec`` is run (scale, runtime, timeouts, retries, export options), where it differs
    from ``inherited``: the defaults for a Deployment, what a Flow passes on for its Executors."""
    data: dict[str, Any] = {}
    for key in ("replicas", "shards", "runtime", "retries"):
        if getattr(spec, key) != getattr(inherited, key):
            data[key] = getattr(spec, key)
    for key in ("timeout_ready", "timeout_send"):
        if getattr(spec, key) != getattr(inherited, key):
            data[key] = seconds_to_ms(getattr(spec, key))
    if spec.exit_on_exceptions != inherited.exit_on_exceptions:
        data["exit_on_exceptions"] = list(spec.exit_on_exceptions)
    if spec.polling != inherited.polling:
        data["polling"] = {endpoint: value.value for endpoint, value in spec.polling.items()}
    if spec.env_from_secret:
        data["env_from_secret"] = {var: ref.model_dump() for var, ref in spec.env_from_secret.items()}
    if spec.volumes:
        data["volumes"] = list(spec.volumes)
    pull = _suffix(spec.image_pull_secrets, inherited.image_pull_secrets)
    if pull:
        data["image_pull_secrets"] = list(pull)
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
    flags: Mapping[str, Any] | None = None,
) -> None:
    """Write every argument that differs from its default: the Executor's, how it runs, the
    HTTP front-end's, the observability options, ``log_config`` and the orchestrator's
    ``flags`` (``quiet``, ``restart_on_crash``) that differ from theirs."""
    arguments: dict[str, Any] = {
        "name": spec.name,
        **executor_spec_to_yaml(spec.executor, f"Deployment {spec.name!r}"),
    }
    defaults = DeploymentSpec()
    for key in ("host", "port", "protocol"):
        value = getattr(spec, key)
        if value != getattr(defaults, key):
            arguments[key] = list(value) if isinstance(value, tuple) else value
    arguments.update(run_options_to_yaml(spec, defaults))
    if default_runtime() != defaults.runtime:
        arguments["runtime"] = spec.runtime  # explicit where a test kit's default would read it otherwise
    if spec.record is not None:
        arguments["record"] = spec.record.model_dump()
    if http is not None:
        arguments.update(http.model_dump(mode="json", exclude_defaults=True))
    arguments.update(telemetry_to_yaml(spec.telemetry))
    if log_config is not None:
        arguments["log_config"] = str(log_config)
    arguments.update(flags or {})
    write_yaml({"jtype": "Deployment", "with": arguments}, path, f"Deployment {spec.name!r}")
