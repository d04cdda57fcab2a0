"""A private event loop on a background thread, behind every synchronous API.

Running the loop on its own thread is what lets ``Client.post`` and ``Flow.post`` work
inside a notebook whose own loop is already running. One loop per owner, created on first
use and stopped by ``close()`` (or when the owner is garbage collected).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


def _shutdown(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    if not loop.is_closed() and thread.is_alive():
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5.0)


class LoopThread:
    def __init__(self, name: str = "devkit-client") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            with self._lock:
                if self._loop is None:
                    loop = asyncio.new_event_loop()
                    thread = threading.Thread(target=self._run, args=(loop,), name=self._name, daemon=True)
                    thread.start()
                    self._thread = thread
                    self._loop = loop
                    self._finalizer = weakref.finalize(self, _shutdown, loop, thread)
        return self._loop

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the private loop and wait for its result from this thread."""
        if self._thread is not None and threading.current_thread() is self._thread:
            raise RuntimeError("a synchronous devkit call was made from inside its own event loop")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._loop = None
        self._thread = None
