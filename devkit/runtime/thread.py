"""The thread runtime: each server runs on its own event loop in a thread of this process.

Starting one costs milliseconds, which is why tests default to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from devkit.errors import RuntimeFailToStart
from devkit.runtime.address import Address, bound_host
from devkit.runtime.base import (
    DEFAULT_GRACE,
    ServeFn,
    StopEvent,
    ready_address,
    startup_error,
    stop_timeout,
)

__all__ = ["ThreadHandle", "start_thread"]


class ThreadHandle:
    def __init__(self, name: str, serve: ServeFn, spec: Any) -> None:
        self.name = name
        self._serve = serve
        self._spec = spec
        self._loop = asyncio.new_event_loop()
        self._stop_event = StopEvent()
        self._ready = threading.Event()
        #: the host the server binds (from its spec), as dialled from this machine
        self.host = bound_host(spec)
        self._port: int | None = None
        self.all_ports: tuple[int, ...] = ()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"devkit-{name}", daemon=True)

    def start(self) -> ThreadHandle:
        self._thread.start()
        return self

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._run())
        finally:
            try:
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
                self._loop.run_until_complete(self._loop.shutdown_default_executor())
            finally:
                self._loop.close()

    async def _run(self) -> None:
        try:
            await self._serve(self._spec, self._on_ready, self._stop_event)
        except BaseException as exc:  # reported through wait_ready / stop
            self._error = exc
        finally:
            self._ready.set()

    def _on_ready(self, port: int, *more_ports: int) -> None:
        self._port = port
        self.all_ports = (port, *more_ports)
        self._ready.set()

    @property
    def address(self) -> Address:
        return ready_address(self.name, self.host, self._port)

    def wait_ready(self, timeout: float | None) -> Address:
        if not self._ready.wait(timeout):
            raise RuntimeFailToStart(
                f"{self.name} did not become ready within {timeout:g} s; "
                "raise timeout_ready if its Executor needs longer to load"
            )
        if self._error is not None:
            error = startup_error(self.name, self._error)
            if error is self._error:
                raise error
            raise error from self._error
        if self._port is None:
            raise RuntimeFailToStart(f"{self.name} stopped before it was ready")
        return self.address

    def stop(self, timeout: float | None = None, *, grace: float | None = DEFAULT_GRACE) -> None:
        """Drain for up to ``grace`` seconds, then stop; wait ``timeout`` (default: grace + margin)."""
        if self._thread.is_alive() and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                self._loop.call_soon_threadsafe(self._stop_event.stop, grace)
        wait = stop_timeout(timeout, grace)
        if self._thread.ident is not None:
            self._thread.join(wait)
        if self._thread.is_alive():
            raise RuntimeError(f"{self.name} did not stop within {wait:g} s")

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def error(self) -> BaseException | None:
        return self._error


def start_thread(name: str, serve: ServeFn, spec: Any) -> ThreadHandle:
    return ThreadHandle(name, serve, spec).start()
