"""Starting groups of servers together and stopping them in reverse order."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from devkit.errors import RuntimeFailToStart
from devkit.runtime import Handle, ServeFn, start

__all__ = ["HandleGroup"]


class HandleGroup:
    """The servers an orchestrator owns. ``stop_all`` is idempotent and stops newest first."""

    def __init__(self) -> None:
        self.handles: list[Handle] = []
        self.ports: list[int] = []  # every port a server of this group listened on

    def start_batch(
        self, runtime: str, items: Sequence[tuple[str, ServeFn, Any]], timeout: float | None
    ) -> list[int]:
        """Start every ``(name, serve, spec)`` at once, then wait for all; return their ports.

        If any fails, everything this group started is stopped before the error is raised,
        so a failed start leaves nothing behind.
        """
        batch = [start(runtime, name, serve, spec) for name, serve, spec in items]
        self.handles.extend(batch)
        deadline = None if timeout is None else time.monotonic() + timeout
        ports: list[int] = []
        try:
            for handle in batch:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                ports.append(handle.wait_ready(left))
        except RuntimeFailToStart:
            self.stop_all()
            raise
        self.ports.extend(ports)
        return ports

    def stop_all(self) -> None:
        errors: list[str] = []
        while self.handles:
            handle = self.handles.pop()
            try:
                handle.stop()
            except Exception as exc:
                errors.append(f"{handle.name}: {exc}")
        if errors:
            raise RuntimeError("some servers did not stop cleanly: " + "; ".join(errors))

    def alive(self) -> list[str]:
        return [handle.name for handle in self.handles if handle.is_alive()]
