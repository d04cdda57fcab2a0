"""Runtimes start servers from specs and return handles; every kind shares one contract.

A handle reports where its server answers as one :class:`Address` (host and port).

The kinds are named once (:data:`devkit.spec.models.RUNTIME_KINDS`); :data:`STARTERS` maps
each to the function that starts a server on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devkit.runtime.address import Address
from devkit.runtime.base import Handle, ServeFn
from devkit.runtime.process import ProcessHandle, start_process
from devkit.runtime.thread import ThreadHandle, start_thread
from devkit.spec.models import RUNTIME_KINDS

__all__ = [
    "STARTERS",
    "Address",
    "Handle",
    "ProcessHandle",
    "ServeFn",
    "ThreadHandle",
    "start",
    "start_process",
    "start_thread",
]


def _start_container(name: str, serve: ServeFn, spec: Any) -> Handle:
    from devkit.runtime.container import start_container  # imports the Docker SDK only when used

    return start_container(name, serve, spec)


#: runtime kind -> how a server starts on it
STARTERS: dict[str, Callable[[str, ServeFn, Any], Handle]] = {
    "thread": start_thread,
    "process": start_process,
    "container": _start_container,
}
assert tuple(STARTERS) == RUNTIME_KINDS, "every runtime kind needs a starter"


def start(kind: str, name: str, serve: ServeFn, spec: Any) -> Handle:
    """Start ``serve(spec, ...)`` on the runtime ``kind`` (one of :data:`RUNTIME_KINDS`)."""
    try:
        starter = STARTERS[kind]
    except KeyError:
        raise ValueError(f"runtime must be one of {list(RUNTIME_KINDS)}, got {kind!r}") from None
    return starter(name, serve, spec)
