"""``uses_dynamic_batching`` checked when a Flow or Deployment is built, not when it starts.

Every offending entry is named at once: an endpoint the Executor does not serve (or that
streams), a size or timeout out of range, an unknown option. Endpoint names are checked when
the Executor class is known without importing anything (a class, or the name of one already
imported); otherwise the Executor itself checks them when it is built.
"""

from __future__ import annotations

import sys
from typing import Any

from devkit.errors import ConfigError
from devkit.executor.base import Executor
from devkit.executor.batching import BatchingConfig
from devkit.executor.decorators import DEFAULT_ENDPOINT
from devkit.spec.models import ExecutorSpec

__all__ = ["check_dynamic_batching"]


def _known_class(uses: Any) -> type[Executor] | None:
    """The Executor class ``uses`` names, if it is at hand (nothing is imported here)."""
    if isinstance(uses, type):
        return uses if issubclass(uses, Executor) else None
    if not isinstance(uses, str):
        return None
    if uses in Executor._registry:
        return Executor._registry[uses]
    module_name, _, class_name = uses.rpartition(".")
    found = getattr(sys.modules.get(module_name), class_name, None) if module_name else None
    return found if isinstance(found, type) and issubclass(found, Executor) else None


def _endpoint(name: str) -> str:
    return name if name.startswith("/") or name == DEFAULT_ENDPOINT else f"/{name}"


def check_dynamic_batching(executor: ExecutorSpec, where: str) -> None:
    """Raise :class:`ConfigError` listing every bad entry of ``executor.uses_dynamic_batching``."""
    table = executor.uses_dynamic_batching
    if not table:
        return
    cls = _known_class(executor.uses)
    endpoints = {} if cls is None else cls._decorated_endpoints()
    served = {*endpoints, *(_endpoint(name) for name in executor.uses_requests)}
    problems: list[str] = []
    for raw_name, value in table.items():
        name = _endpoint(str(raw_name))
        entry = f"uses_dynamic_batching[{raw_name!r}]"
        if cls is not None and name not in served and DEFAULT_ENDPOINT not in served:
            problems.append(
                f"{entry} names an endpoint {cls.__name__} does not serve "
                f"(it serves {', '.join(sorted(served)) or 'no endpoint'})"
            )
        streaming = endpoints.get(name) or endpoints.get(DEFAULT_ENDPOINT)
        if streaming is not None and streaming.is_generator and not executor.uses_requests:
            problems.append(f"{entry}: {name!r} streams documents and cannot be dynamically batched")
        _, found = BatchingConfig.read(value, f"{where}: {entry}")
        problems.extend(f"{entry}: {problem}" for problem in found)
    if problems:
        raise ConfigError(
            f"{where}: {len(problems)} problem(s) in uses_dynamic_batching: "
            + "; ".join(problems)
            + "; fix or remove these entries (keys: preferred_batch_size, timeout in ms, flush_all)"
        )
