"""Killing a replica of a running Flow and bringing it back, on the thread or process runtime.

On the process runtime a kill is ``SIGKILL`` and the orchestrator's supervisor restarts the
child on its port (``restart_on_crash``, the default); bringing it back means waiting for
that. The thread runtime has no supervisor: a kill stops the replica's server at once
(no drain) and a restart serves the same spec on the same port in a new thread, in the
orchestrator's place, so that ``close()`` stops it.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

from devkit.orchestrate.base import Orchestrator
from devkit.orchestrate.handles import _pinned
from devkit.runtime import ProcessHandle, ThreadHandle, start_thread
from devkit.testing.leaks import listening

__all__ = ["KilledReplica", "can_kill", "kill_replica", "restart_replica"]


@dataclass(frozen=True)
class KilledReplica:
    """A replica killed by :func:`kill_replica`: its server name, old pid (process) and ports."""

    server: str
    ports: tuple[int, ...]
    pid: int | None = None


def can_kill(orchestrator: Orchestrator, runtime: str) -> str | None:
    """Why replicas of ``orchestrator`` cannot be killed and restarted here, or ``None``."""
    if runtime == "thread":
        return None
    if runtime == "process":
        if not orchestrator.restart_on_crash:
            return "its process-runtime replicas are not restarted (restart_on_crash=False)"
        return None
    return f"replicas on the {runtime} runtime cannot be killed from the test process"


def _handle(orchestrator: Orchestrator, server: str) -> ThreadHandle | ProcessHandle:
    group = orchestrator._group
    with group._lock:
        found = [h for h in group.handles if h.name == server]
    if not found or not isinstance(found[-1], (ThreadHandle, ProcessHandle)):
        names = ", ".join(h.name for h in group.handles)
        raise LookupError(f"no thread or process server named {server!r} is running (running: {names})")
    return found[-1]


def kill_replica(orchestrator: Orchestrator, server: str) -> KilledReplica:
    """Kill the replica ``server`` (``'encoder/rep-0'``) without letting it drain."""
    handle = _handle(orchestrator, server)
    if isinstance(handle, ProcessHandle):
        pid = handle.pid
        if pid is None:
            raise LookupError(f"{server} has no process to kill")
        os.kill(pid, signal.SIGKILL)
        return KilledReplica(server, handle.all_ports, pid)
    handle.stop(grace=0.0)
    return KilledReplica(server, handle.all_ports)


def restart_replica(orchestrator: Orchestrator, killed: KilledReplica, timeout: float = 30.0) -> None:
    """Bring ``killed`` back on its port; returns once it listens, else raises naming it."""
    deadline = time.monotonic() + timeout
    if killed.pid is not None:  # process runtime: the supervisor restarts it
        while True:
            handle = _handle(orchestrator, killed.server)
            pid = handle.pid if isinstance(handle, ProcessHandle) else None
            if pid != killed.pid and handle.is_alive() and listening(killed.ports[0]):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{killed.server} (killed, pid {killed.pid}) was not restarted on port "
                    f"{killed.ports[0]} within {timeout:g} s; see the devkit.supervisor log"
                )
            time.sleep(0.05)
    old = _handle(orchestrator, killed.server)
    assert isinstance(old, ThreadHandle)
    new = start_thread(killed.server, old._serve, _pinned(old._spec, killed.ports))
    group = orchestrator._group
    with group._lock:
        group._replace(old, new)
    new.wait_ready(max(0.0, deadline - time.monotonic()))
