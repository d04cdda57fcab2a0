"""The private event loop behind every synchronous API.

``Client.post`` must work inside a notebook whose own loop is already running, so the
async client cannot simply ``asyncio.run`` in the caller's thread. It used to hop to a loop
thread on every call; that costs two thread wake-ups per call, about a tenth of a 1-document
``post`` on loopback. Now the caller drives the private loop itself (``run_until_complete``)
whenever it can: its thread has no running loop and no other thread is using the loop.
The first call that cannot (a notebook, or calls from several threads at once) moves the
loop, for good, to a background thread, which is what every call used to do.
One loop per owner, created on first use, stopped by ``close()`` or garbage collection.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class _State:
    """What the finalizer needs; kept apart from the owner so the owner can be collected."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.driving = threading.Lock()  # held by whichever thread runs the loop
        self.thread: threading.Thread | None = None


def _shutdown(state: _State) -> None:
    loop, thread = state.loop, state.thread
    if thread is not None:
        if not loop.is_closed() and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5.0)
        return
    if state.driving.acquire(blocking=False):  # never driven by a thread: close it here
        try:
            if not loop.is_closed():
                try:
                    loop.run_until_complete(loop.shutdown_asyncgens())
                finally:
                    loop.close()
        finally:
            state.driving.release()


def _serve_forever(state: _State) -> None:
    with state.driving:
        loop = state.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


class LoopThread:
    def __init__(self, name: str = "devkit-client") -> None:
        self._name = name
        self._state: _State | None = None
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize | None = None

    @property
    def _loop(self) -> asyncio.AbstractEventLoop | None:
        """The private loop, or None before the first call / after ``close()``."""
        return self._state.loop if self._state is not None else None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._ensure_state().loop

    def _ensure_state(self) -> _State:
        if self._state is None:
            with self._lock:
                if self._state is None:
                    state = _State(asyncio.new_event_loop())
                    self._finalizer = weakref.finalize(self, _shutdown, state)
                    self._state = state
        return self._state

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the private loop and return its result in this thread."""
        state = self._ensure_state()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is state.loop or threading.current_thread() is state.thread:
            coro.close()
            raise RuntimeError("a synchronous devkit call was made from inside its own event loop")
        if running is None and state.thread is None and state.driving.acquire(blocking=False):
            try:
                if state.thread is None:  # still no background thread: drive the loop here
                    return self._run_here(state.loop, coro, timeout)
            finally:
                state.driving.release()
        return self._run_in_thread(state, coro, timeout)

    @staticmethod
    def _run_here(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        task = loop.create_task(coro if timeout is None else asyncio.wait_for(coro, timeout))
        try:
            return loop.run_until_complete(task)
        except BaseException:  # e.g. KeyboardInterrupt: cancel the call, as the thread path does
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(task)
            raise

    def _run_in_thread(self, state: _State, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        if state.thread is None:
            with self._lock:
                if state.thread is None:
                    thread = threading.Thread(
                        target=_serve_forever, args=(state,), name=self._name, daemon=True
                    )
                    thread.start()
                    state.thread = thread
        future = asyncio.run_coroutine_threadsafe(coro, state.loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._state = None
