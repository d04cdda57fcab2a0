"""Runtimes start servers from specs and return handles; thread and process share one contract."""

from __future__ import annotations

from typing import Any

from devkit.runtime.base import Handle, ServeFn
from devkit.runtime.process import ProcessHandle, start_process
from devkit.runtime.thread import ThreadHandle, start_thread

__all__ = ["Handle", "ProcessHandle", "ServeFn", "ThreadHandle", "start", "start_process", "start_thread"]


def start(kind: str, name: str, serve: ServeFn, spec: Any) -> Handle:
    """Start ``serve(spec, ...)`` on the runtime ``kind`` ('thread' or 'process')."""
    if kind == "thread":
        return start_thread(name, serve, spec)
    if kind == "process":
        return start_process(name, serve, spec)
    raise ValueError(f"runtime must be 'thread' or 'process', got {kind!r}")
