"""Starting groups of servers together and stopping them in reverse order."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from devkit.errors import RuntimeFailToStart
from devkit.orchestrate.supervisor import Restartable, Supervisor
from devkit.runtime import Address, Handle, ProcessHandle, ServeFn, start
from devkit.runtime.base import DEFAULT_GRACE

__all__ = ["HandleGroup"]


def _pinned(spec: Any, ports: tuple[int, ...]) -> Any:
    """``spec`` listening where it did: a gateway on each of its protocols' ports."""
    from devkit.spec.models import GatewaySpec

    if isinstance(spec, GatewaySpec):
        protocols = tuple(
            p.model_copy(update={"port": port}) for p, port in zip(spec.protocols, ports, strict=True)
        )
        return spec.model_copy(update={"protocols": protocols})
    return spec.model_copy(update={"port": ports[0]})


class HandleGroup:
    """The servers an orchestrator owns. ``stop_all`` is idempotent and stops newest first.

    With ``restart_on_crash`` (the default), a process- or container-runtime server whose
    process or container dies is restarted on the same port (see
    :mod:`devkit.orchestrate.supervisor`).
    """

    def __init__(self, owner: str = "group", restart_on_crash: bool = True) -> None:
        self.owner = owner
        self.restart_on_crash = restart_on_crash
        self.handles: list[Handle] = []
        self.ports: list[int] = []  # every port a server of this group listened on
        self.addresses: list[Address] = []  # ... each with the host it listened on
        self._lock = threading.Lock()
        self._supervisor: Supervisor | None = None

    def start_batch(
        self, runtime: str, items: Sequence[tuple[str, ServeFn, Any]], timeout: float | None
    ) -> list[Address]:
        """Start every ``(name, serve, spec)`` at once, then wait for all; return their addresses.

        If any fails, everything this group started is stopped before the error is raised,
        so a failed start leaves nothing behind.
        """
        batch = [start(runtime, name, serve, spec) for name, serve, spec in items]
        with self._lock:
            self.handles.extend(batch)
        deadline = None if timeout is None else time.monotonic() + timeout
        addresses: list[Address] = []
        try:
            for handle in batch:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                addresses.append(handle.wait_ready(left))
        except RuntimeFailToStart:
            self.stop_all()
            raise
        for handle in batch:
            self.ports.extend(handle.all_ports)
            self.addresses.extend(Address(handle.address.host, port) for port in handle.all_ports)
        if self.restart_on_crash:
            for (name, serve, spec), handle in zip(items, batch, strict=True):
                if isinstance(handle, Restartable) and hasattr(spec, "model_copy"):
                    pinned = _pinned(spec, handle.all_ports)  # a restart listens where it did
                    self._supervise().watch(runtime, name, serve, pinned, handle, timeout)
        return addresses

    def _supervise(self) -> Supervisor:
        if self._supervisor is None:
            self._supervisor = Supervisor(self.owner, self._lock, self._replace)
        return self._supervisor

    def _replace(self, old: Handle, new: Handle) -> None:
        """Put a restarted server's handle where the dead one was (called under the lock)."""
        for index, handle in enumerate(self.handles):
            if handle is old:
                self.handles[index] = new
                return
        self.handles.append(new)

    def stop_all(self, grace: float | None = DEFAULT_GRACE) -> None:
        """Stop every server, newest first, each draining for up to ``grace`` seconds."""
        with self._lock:
            supervisor, self._supervisor = self._supervisor, None
            if supervisor is not None:
                supervisor.halt()  # no restart after this point
        errors: list[str] = []
        while True:
            with self._lock:
                if not self.handles:
                    break
                handle = self.handles.pop()
            try:
                handle.stop(grace=grace)
            except Exception as exc:
                errors.append(f"{handle.name}: {exc}")
        if supervisor is not None:
            supervisor.join()
        if errors:
            raise RuntimeError("some servers did not stop cleanly: " + "; ".join(errors))

    def alive(self) -> list[str]:
        return [handle.name for handle in self.handles if handle.is_alive()]

    def pids(self) -> dict[str, int]:
        """Each process-runtime server's current process id, by server name."""
        return {
            handle.name: handle.pid
            for handle in self.handles
            if isinstance(handle, ProcessHandle) and handle.pid is not None
        }
