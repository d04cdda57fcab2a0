"""Restarting process- and container-runtime servers that die, so that a served Flow heals itself.

One watcher thread per orchestrator waits on the sentinels of its child processes and of
its containers (``multiprocessing.connection.wait``; a container's is a socket its handle
writes to once the container exited), so a death is noticed at once, without polling. A
server that exits on its own with a non-zero code or a signal (a crash, the OOM killer,
``kill -9``, ``docker kill``) is logged naming the Executor, the replica and the exit code,
and started again on the same runtime from the same spec on the same port (a container's
published port), so the gateway's channels find it again.
Restarts back off (0.1 s, doubling up to 10 s) while a server keeps dying. A clean exit
(code 0, as after ``exit_on_exceptions``) is left alone. The thread ends with the
orchestrator's ``stop_all``; nothing it starts outlives it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Protocol, cast, runtime_checkable

from devkit.runtime import Handle, ServeFn, start

__all__ = ["Restartable", "Supervisor"]

log = logging.getLogger("devkit.supervisor")

#: Restart delays: ``_FIRST_DELAY`` seconds, doubling up to ``_MAX_DELAY`` while a server keeps
#: dying; a server that stayed up ``_STABLE`` seconds starts again from the first delay.
_FIRST_DELAY = 0.1
_MAX_DELAY = 10.0
_STABLE = 10.0


@runtime_checkable
class Restartable(Handle, Protocol):
    """A handle the supervisor can watch: what a child process's and a container's share."""

    #: set by ``stop``: the server's exit is then expected
    stopping: bool

    @property
    def sentinel(self) -> Any:
        """Waitable (``multiprocessing.connection.wait``): ready once the server exited."""
        ...

    @property
    def ready_pipe(self) -> Any:
        """Waitable: ready once ``wait_ready`` answers at once (ready, failed or exited)."""
        ...

    @property
    def exitcode(self) -> int | None:
        """``None`` while running; negative: killed by that signal."""
        ...

    @property
    def instance(self) -> str:
        """Which process or container this is, for logs (``pid 42``, ``container 1a2b3c``)."""
        ...


@dataclass
class _Watched:
    runtime: str
    name: str
    serve: ServeFn
    spec: Any  # with the port it bound pinned, so a restart listens where the gateway dials
    handle: Restartable
    timeout: float | None
    started_at: float
    failures: int = 0
    restart_at: float | None = None  # set while it is down and waiting to be restarted
    starting: bool = False  # restarted, its readiness not reported yet
    ready_by: float | None = None  # while starting: when ``timeout`` runs out (None: never)

    def describe(self) -> str:
        """'Executor 'encoder' replica 1 (encoder/rep-1)', or the server's name for a gateway."""
        replica = getattr(self.spec, "replica_id", None)
        if replica is None:
            return repr(self.name)
        shard = f" of shard {self.spec.shard_id}" if getattr(self.spec, "shards", 1) > 1 else ""
        return f"Executor {self.spec.name!r} replica {replica}{shard} ({self.name})"


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    """Watches process and container handles and restarts the ones that die.

    ``replace(old, new)`` swaps a restarted server's handle into the owner's list, under
    ``lock``, the lock the owner holds while it stops everything, so that no server is
    started after ``halt``.
    """

    def __init__(self, owner: str, lock: threading.Lock, replace: Callable[[Any, Any], None]) -> None:
        self._lock = lock
        self._replace = replace
        self._watched: list[_Watched] = []
        self._halted = False
        self._wake_r, self._wake_w = os.pipe()
        self._pipe_lock = threading.Lock()
        self._pipe_open = True
        self._thread = threading.Thread(target=self._run, name=f"devkit-supervisor-{owner}", daemon=True)
        self._thread.start()

    def watch(
        self, runtime: str, name: str, serve: ServeFn, spec: Any, handle: Restartable, timeout: float | None
    ) -> None:
        """Restart ``handle``'s server on ``runtime`` from ``spec`` (its port pinned) whenever it dies."""
        with self._lock:
            self._watched.append(_Watched(runtime, name, serve, spec, handle, timeout, time.monotonic()))
        self._wake()

    def _wake(self) -> None:
        with self._pipe_lock:
            if self._pipe_open:  # never write to a closed (and possibly reused) descriptor
                os.write(self._wake_w, b"!")

    def halt(self) -> None:
        """Start nothing more; call with the owner's lock held (the owner then stops every server)."""
        self._halted = True
        self._wake()

    def join(self, timeout: float = 10.0) -> None:
        """Wait for the thread to end (after ``halt`` and after the servers were stopped)."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"{self._thread.name} did not stop within {timeout:g} s")
        with self._pipe_lock:
            if self._pipe_open:
                self._pipe_open = False
                os.close(self._wake_r)
                os.close(self._wake_w)

    # -- the watcher thread ---------------------------------------------------------------
    def _run(self) -> None:
        while not self._halted:
            now = time.monotonic()
            with self._lock:
                watched = list(self._watched)
            for entry in watched:
                if entry.restart_at is not None and entry.restart_at <= now:
                    self._restart(entry)
                elif entry.starting and entry.ready_by is not None and entry.ready_by <= now:
                    self._failed_restart(entry, f"did not become ready within {entry.timeout:g} s")
            # a running server is watched through its sentinel, a starting one through the pipe
            # on which it reports readiness (or EOF if it dies first): restarts never block each other
            waited: dict[Any, _Watched] = {
                (e.handle.ready_pipe if e.starting else e.handle.sentinel): e
                for e in watched
                if e.restart_at is None
            }
            deadlines = [e.restart_at for e in watched if e.restart_at is not None]
            deadlines += [e.ready_by for e in watched if e.starting and e.ready_by is not None]
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            try:
                ready_ones = wait([self._wake_r, *waited], timeout=timeout)
            except (OSError, ValueError):  # a handle closed by stop_all while this was gathering
                if self._halted:
                    return
                raise
            for ready in ready_ones:
                if ready == self._wake_r:
                    os.read(self._wake_r, 512)
                elif not self._halted:
                    entry = waited[ready]
                    if entry.starting:
                        self._reported(entry)
                    else:
                        self._died(entry)

    def _forget(self, entry: _Watched) -> None:
        with self._lock:
            self._watched.remove(entry)

    def _died(self, entry: _Watched) -> None:
        handle = entry.handle
        if handle.stopping:  # stopped on purpose
            self._forget(entry)
            return
        handle.stop()  # reaps the process (removes the container) and closes its pipes
        code = handle.exitcode
        if code == 0:
            log.info("%s exited cleanly (code 0); not restarting it", entry.describe())
            self._forget(entry)
            return
        self._schedule(entry, f"({handle.instance}) {_exit_reason(code)}")

    def _schedule(self, entry: _Watched, what: str) -> None:
        if time.monotonic() - entry.started_at >= _STABLE:
            entry.failures = 0
        delay = min(_FIRST_DELAY * 2**entry.failures, _MAX_DELAY)
        entry.failures += 1
        entry.restart_at = time.monotonic() + delay
        port = getattr(entry.spec, "port", None)
        log.error("%s %s; restarting it on port %s in %.1f s", entry.describe(), what, port, delay)

    def _restart(self, entry: _Watched) -> None:
        with self._lock:
            if self._halted:
                return
            try:
                new = start(entry.runtime, entry.name, entry.serve, entry.spec)
            except Exception as exc:  # fork failed (out of memory), the engine refused the container
                entry.started_at = time.monotonic()
                self._schedule(entry, f"could not be restarted: {type(exc).__name__}: {exc}")
                return
            self._replace(entry.handle, new)
        entry.handle = cast(Restartable, new)  # the same runtime and spec started a watched kind
        entry.restart_at = None
        entry.started_at = time.monotonic()
        entry.starting = True
        entry.ready_by = None if entry.timeout is None else entry.started_at + entry.timeout

    def _reported(self, entry: _Watched) -> None:
        """The restarted server said it is ready, or failed, or exited before it could."""
        try:
            entry.handle.wait_ready(0.0)  # reads what it reported; raises its start-up error
        except Exception as exc:
            self._failed_restart(entry, f"could not be restarted: {exc}")
            return
        entry.starting = False
        log.warning("%s restarted (%s)", entry.describe(), entry.handle.instance)

    def _failed_restart(self, entry: _Watched, what: str) -> None:
        entry.starting = False
        entry.handle.stop()
        self._schedule(entry, what)
