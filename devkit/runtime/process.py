"""The process runtime: each server runs in a child process.

Children never ``fork`` from the parent (which has threads and gRPC state): by default they
fork from multiprocessing's fork server, a clean process that imported devkit once, so a
child is ready in tens of milliseconds instead of re-importing docarray and grpc (~1 s).
The fork server lives as long as the parent process, like multiprocessing's resource
tracker. ``DEVKIT_START_METHOD=spawn`` starts every child from scratch instead.
A child takes the parent's environment as it is when the child starts (as a spawned child
would; the fork server's own dates from its start) and the ``log_config`` file the parent last
applied. The child reports readiness or its start-up error through a pipe and stops (draining
for the grace the parent sends) when the parent asks, when the parent's end of the pipe
closes, or on SIGTERM. It ignores SIGINT: Ctrl-C in a terminal reaches the whole process group, and the
parent stops its servers in order (gateway first, so it can still reach every Executor).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from devkit.errors import DevkitError, RuntimeFailToStart
from devkit.logs import applied_log_config, setup_logging
from devkit.runtime.address import Address, bound_host
from devkit.runtime.base import (
    DEFAULT_GRACE,
    ServeFn,
    StopEvent,
    ready_address,
    startup_error,
    stop_timeout,
)

__all__ = ["ProcessHandle", "start_process"]

#: Modules every child needs; the fork server imports them once so children skip ~1 s of imports.
_PRELOAD = ["devkit.serve.worker", "devkit.serve.gateway.grpc"]


def _context(start_method: str) -> Any:
    """``forkserver`` (default): children fork from a clean, single-purpose server process that
    has devkit preloaded; ``spawn``: every child imports everything itself (slower, no server)."""
    ctx = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def _child_main(
    serve: ServeFn,
    spec: Any,
    conn: Connection,
    name: str,
    log_config: str | None = None,
    environ: dict[str, str] | None = None,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides (see the module docstring)
    if environ is not None:  # the parent's environment now, not the fork server's from its start
        os.environ.clear()
        os.environ.update(environ)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = StopEvent()
        loop.add_signal_handler(signal.SIGTERM, stop.set)

        def watch_parent() -> None:
            grace: float | None = DEFAULT_GRACE
            with contextlib.suppress(EOFError, OSError):
                message = conn.recv()  # ("stop", grace), or EOFError once the parent is gone
                if isinstance(message, tuple) and message[0] == "stop":
                    grace = message[1]
            with contextlib.suppress(RuntimeError):  # the loop may have closed already (failed start)
                loop.call_soon_threadsafe(stop.stop, grace)

        threading.Thread(target=watch_parent, name="devkit-parent-watch", daemon=True).start()
        await serve(spec, lambda *ports: conn.send(("ready", *ports)), stop)

    try:
        # a forked child starts without the parent's handlers: it applies the parent's
        # log_config file, else devkit's setup with the level from the environment
        setup_logging(log_config=log_config)
        asyncio.run(main())
    except BaseException as exc:
        with contextlib.suppress(OSError, ValueError):
            conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc(), _portable(exc)))
        raise SystemExit(1) from None


def _portable(exc: BaseException) -> bytes | None:
    """``exc`` pickled if the parent should re-raise it as is (a devkit error), else None."""
    if not isinstance(exc, DevkitError):
        return None
    try:
        return pickle.dumps(exc)
    except Exception:  # an error that cannot travel is reported by its text only
        return None


def _child_error(name: str, message: tuple[Any, ...]) -> Exception:
    """The exception to raise in the parent for an ``("error", text, traceback, pickled)`` message."""
    text, remote_traceback = message[1], message[2]
    pickled = message[3] if len(message) > 3 else None
    if pickled is not None:
        with contextlib.suppress(Exception):
            error = startup_error(name, pickle.loads(pickled))
            error.add_note(f"Remote traceback ({name}):\n{remote_traceback}".rstrip())
            return error
    return RuntimeFailToStart(f"{name} failed to start: {text}\n{remote_traceback}".rstrip())


class ProcessHandle:
    def __init__(self, name: str, serve: ServeFn, spec: Any) -> None:
        self.name = name
        ctx = _context(os.environ.get("DEVKIT_START_METHOD", "forkserver"))
        self._conn, child_conn = ctx.Pipe()
        self._process = ctx.Process(
            target=_child_main,
            args=(serve, spec, child_conn, name, applied_log_config(), dict(os.environ)),
            name=f"devkit-{name}",
            daemon=True,
        )
        self._child_conn = child_conn
        #: the host the server binds (from its spec), as dialled from this machine
        self.host = bound_host(spec)
        self._port: int | None = None
        self.stopping = False  # set by stop(): the child's exit is then expected
        self.all_ports: tuple[int, ...] = ()

    def start(self) -> ProcessHandle:
        self._process.start()
        self._child_conn.close()
        return self

    @property
    def address(self) -> Address:
        return ready_address(self.name, self.host, self._port)

    def wait_ready(self, timeout: float | None) -> Address:
        if self._port is not None:
            return self.address
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if self._conn.poll(0.05 if left is None else min(0.05, left)):
                try:
                    message = self._conn.recv()
                except EOFError:
                    message = ("error", f"process exited with code {self._process.exitcode}", "")
                if message[0] == "ready":
                    self._port = int(message[1])
                    self.all_ports = tuple(int(port) for port in message[1:])
                    return self.address
                raise _child_error(self.name, message)
            if not self._process.is_alive() and not self._conn.poll():
                raise RuntimeFailToStart(
                    f"{self.name} exited with code {self._process.exitcode} before it was ready"
                )
            if left is not None and left <= 0:
                raise RuntimeFailToStart(
                    f"{self.name} did not become ready within {timeout:g} s; "
                    "raise timeout_ready if its Executor needs longer to load"
                )

    def stop(self, timeout: float | None = None, *, grace: float | None = DEFAULT_GRACE) -> None:
        """Ask the child to drain for up to ``grace`` seconds and exit; wait ``timeout``
        (default: grace + margin), then terminate, then kill it."""
        self.stopping = True
        if self._process.pid is None:
            return
        if self._process.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(("stop", grace))
            self._process.join(stop_timeout(timeout, grace))
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(2.0)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(2.0)
        self._conn.close()

    def is_alive(self) -> bool:
        return self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def sentinel(self) -> int:
        """Becomes ready (``multiprocessing.connection.wait``) when the child exits."""
        return self._process.sentinel

    @property
    def ready_pipe(self) -> Connection:
        """Readable (``multiprocessing.connection.wait``) once the child reported that it is
        ready or why it failed, or exited; ``wait_ready`` then returns or raises at once."""
        return self._conn

    @property
    def exitcode(self) -> int | None:
        """``None`` while running; negative: killed by that signal."""
        return self._process.exitcode

    @property
    def instance(self) -> str:
        """Which process this is, for logs: ``pid <pid>``."""
        return f"pid {self._process.pid}"


def start_process(name: str, serve: ServeFn, spec: Any) -> ProcessHandle:
    return ProcessHandle(name, serve, spec).start()
