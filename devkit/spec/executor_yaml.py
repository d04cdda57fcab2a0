"""Executor YAML (``jtype``, ``with``, ``metas``, ``py_modules``, ``requests``) and building an
Executor from an :class:`ExecutorSpec`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devkit.errors import ConfigError, EndpointSignatureError
from devkit.executor.base import Executor
from devkit.spec.loader import import_py_modules, resolve_executor_class
from devkit.spec.models import ExecutorSpec
from devkit.spec.yamlio import read_yaml

__all__ = [
    "ResolvedExecutor",
    "build_executor",
    "is_yaml_source",
    "load_executor_yaml",
    "resolve_executor",
]

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


@dataclass(frozen=True)
class ResolvedExecutor:
    """An Executor class and what to build it with; nothing is built yet."""

    cls: type[Executor]
    uses_with: Mapping[str, Any]
    uses_metas: Mapping[str, Any]
    uses_requests: Mapping[str, str]
    dynamic_batching: Mapping[str, Any]
    where: str  # names the source in errors: the YAML file, or ``uses=Class``


def resolve_executor(spec: ExecutorSpec) -> ResolvedExecutor:
    """The one place ``uses`` and ``py_modules`` become a class, for every command and runtime.

    Files and modules are looked for in the spec's ``extra_search_paths`` (a YAML file's own
    folder first) and then the working directory (:func:`~devkit.spec.loader.search_paths`).
    """
    import_py_modules(spec.py_modules, spec.extra_search_paths)
    if is_yaml_source(spec.uses):
        return _resolve_yaml(spec.uses, spec)
    cls = resolve_executor_class(spec.uses, spec.extra_search_paths)
    return ResolvedExecutor(
        cls,
        spec.uses_with,
        spec.uses_metas,
        spec.uses_requests,
        spec.uses_dynamic_batching,
        where=f"uses={cls.__name__}",
    )


def _resolve_yaml(source: str, spec: ExecutorSpec) -> ResolvedExecutor:
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
    search = [str(doc.base_dir), *spec.extra_search_paths]
    import_py_modules(py_modules, search)
    try:
        cls = resolve_executor_class(doc.data["jtype"], search)
    except ImportError as exc:
        raise ConfigError(f"{doc.where('jtype')}: {exc}") from exc
    return ResolvedExecutor(
        cls,
        {**(doc.data.get("with") or {}), **spec.uses_with},
        {**metas, **spec.uses_metas},
        {**(doc.data.get("requests") or {}), **spec.uses_requests},
        {
            **(doc.data.get("uses_dynamic_batching") or doc.data.get("dynamic_batching") or {}),
            **spec.uses_dynamic_batching,
        },
        where=doc.source,
    )


def load_executor_yaml(
    source: str | os.PathLike[str],
    *,
    uses_with: Mapping[str, Any] | None = None,
    uses_metas: Mapping[str, Any] | None = None,
    uses_requests: Mapping[str, str] | None = None,
    runtime_args: Mapping[str, Any] | None = None,
    extra_search_paths: tuple[str, ...] = (),
) -> Executor:
    spec = ExecutorSpec(
        uses=os.fspath(source),
        uses_with=uses_with,  # type: ignore[arg-type]  # normalised by the spec's validators
        uses_metas=uses_metas,  # type: ignore[arg-type]
        uses_requests=uses_requests,  # type: ignore[arg-type]
        extra_search_paths=extra_search_paths,
    )
    return build_executor(spec, runtime_args or {})


def _instantiate(resolved: ResolvedExecutor, runtime_args: dict[str, Any]) -> Executor:
    cls = resolved.cls
    try:
        return cls(
            **resolved.uses_with,
            metas=dict(resolved.uses_metas),
            requests=dict(resolved.uses_requests),
            runtime_args=runtime_args,
            workspace=runtime_args.get("workspace"),
            dynamic_batching=resolved.dynamic_batching or None,
        )
    except EndpointSignatureError:
        raise  # a TypeError too, but it names the method at fault, not the arguments
    except TypeError as exc:
        raise ConfigError(
            f"{resolved.where}: cannot construct {cls.__name__} with {dict(resolved.uses_with)!r}: {exc}"
        ) from exc


def build_executor(spec: ExecutorSpec, runtime_args: Mapping[str, Any]) -> Executor:
    """Build the Executor an :class:`ExecutorSpec` describes, in the current process."""
    return _instantiate(resolve_executor(spec), dict(runtime_args))
