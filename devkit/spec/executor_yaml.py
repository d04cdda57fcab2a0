"""Executor YAML (``jtype``, ``with``, ``metas``, ``py_modules``, ``requests``) and building an
Executor from an :class:`ExecutorSpec`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from devkit.errors import ConfigError, EndpointSignatureError
from devkit.executor.base import Executor
from devkit.spec.loader import import_py_modules, resolve_executor_class
from devkit.spec.models import ExecutorSpec
from devkit.spec.yamlio import read_yaml

__all__ = ["build_executor", "is_yaml_source", "load_executor_yaml"]

EXECUTOR_YAML_KEYS = (
    "jtype",
    "with",
    "metas",
    "py_modules",
    "requests",
    "uses_dynamic_batching",
    "dynamic_batching",
)


def is_yaml_source(uses: Any) -> bool:
    return isinstance(uses, str) and (uses.strip().endswith((".yml", ".yaml")) or "jtype:" in uses)


def load_executor_yaml(
    source: str | os.PathLike[str],
    *,
    uses_with: Mapping[str, Any] | None = None,
    uses_metas: Mapping[str, Any] | None = None,
    uses_requests: Mapping[str, str] | None = None,
    runtime_args: Mapping[str, Any] | None = None,
    extra_search_paths: tuple[str, ...] = (),
) -> Executor:
    doc = read_yaml(source)
    doc.reject_unknown(EXECUTOR_YAML_KEYS, "Executor YAML")
    if "jtype" not in doc.data:
        raise ConfigError(f"{doc.source}: Executor YAML needs 'jtype: <ExecutorClass>'")
    for key in ("with", "metas", "requests"):
        if not isinstance(doc.data.get(key) or {}, dict):
            raise ConfigError(f"{doc.where(key)}: '{key}' must be a mapping")
    metas = dict(doc.data.get("metas") or {})
    py_modules = doc.data.get("py_modules") or metas.pop("py_modules", None) or []
    if isinstance(py_modules, str):
        py_modules = [py_modules]
    import_py_modules(py_modules, [str(doc.base_dir), *extra_search_paths])
    try:
        cls = resolve_executor_class(doc.data["jtype"])
    except ImportError as exc:
        raise ConfigError(f"{doc.where('jtype')}: {exc}") from exc
    batching = doc.data.get("uses_dynamic_batching") or doc.data.get("dynamic_batching") or {}
    return _instantiate(
        cls,
        {**(doc.data.get("with") or {}), **(uses_with or {})},
        {**metas, **(uses_metas or {})},
        {**(doc.data.get("requests") or {}), **(uses_requests or {})},
        dict(runtime_args or {}),
        batching,
        where=doc.source,
    )


def _instantiate(
    cls: type[Executor],
    with_: Mapping[str, Any],
    metas: Mapping[str, Any],
    requests: Mapping[str, str],
    runtime_args: dict[str, Any],
    dynamic_batching: Mapping[str, Any],
    where: str,
) -> Executor:
    try:
        return cls(
            **with_,
            metas=metas,
            requests=requests,
            runtime_args=runtime_args,
            workspace=runtime_args.get("workspace"),
            dynamic_batching=dynamic_batching or None,
        )
    except EndpointSignatureError:
        raise  # a TypeError too, but it names the method at fault, not the arguments
    except TypeError as exc:
        raise ConfigError(f"{where}: cannot construct {cls.__name__} with {dict(with_)!r}: {exc}") from exc


def build_executor(spec: ExecutorSpec, runtime_args: Mapping[str, Any]) -> Executor:
    """Build the Executor an :class:`ExecutorSpec` describes, in the current process."""
    import_py_modules(spec.py_modules, spec.extra_search_paths)
    if is_yaml_source(spec.uses):
        return load_executor_yaml(
            spec.uses,
            uses_with=spec.uses_with,
            uses_metas=spec.uses_metas,
            uses_requests=spec.uses_requests,
            runtime_args=runtime_args,
            extra_search_paths=spec.extra_search_paths,
        )
    cls = resolve_executor_class(spec.uses)
    return _instantiate(
        cls,
        spec.uses_with,
        spec.uses_metas,
        spec.uses_requests,
        dict(runtime_args),
        spec.uses_dynamic_batching,
        where=f"uses={cls.__name__}",
    )
