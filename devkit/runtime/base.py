"""What every runtime returns: a handle on one started server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from devkit.errors import DevkitError, RuntimeFailToStart
from devkit.runtime.address import Address

__all__ = [
    "DEFAULT_GRACE",
    "STOP_MARGIN",
    "Address",
    "Handle",
    "ServeFn",
    "StopEvent",
    "grace_of",
    "ready_address",
    "startup_error",
    "stop_timeout",
]

#: Seconds a stopping server lets the requests it accepted finish (Kubernetes' default
#: termination grace period); what is still running then is cancelled.
DEFAULT_GRACE = 30.0
#: Seconds a handle waits, beyond the grace, for its server to close and exit.
STOP_MARGIN = 10.0

#: A coroutine function that serves ``spec`` until the event is set. It calls
#: ``on_ready(port, *more_ports)`` once it listens (a gateway with several protocols listens
#: on one port each). Runtimes only call it; they never look inside.
ServeFn = Callable[[Any, Callable[..., None], asyncio.Event], Awaitable[None]]


class StopEvent(asyncio.Event):
    """Set to stop a server; :attr:`grace` says how long it drains (None: until done)."""

    grace: float | None = DEFAULT_GRACE

    def stop(self, grace: float | None = DEFAULT_GRACE) -> None:
        self.grace = grace
        self.set()


def grace_of(stop: asyncio.Event) -> float | None:
    """The grace asked for with ``stop`` (:data:`DEFAULT_GRACE` for a plain event)."""
    return stop.grace if isinstance(stop, StopEvent) else DEFAULT_GRACE


def stop_timeout(timeout: float | None, grace: float | None) -> float | None:
    """How long ``Handle.stop`` waits: ``timeout`` if given, else the grace plus a margin."""
    if timeout is not None:
        return timeout
    return None if grace is None else grace + STOP_MARGIN


class Handle(Protocol):
    """A server started by a runtime.

    ``wait_ready`` returns the server's :class:`Address` (the host it bound, as dialled from
    this machine, and its first port) or raises ``RuntimeFailToStart`` naming the server and
    the cause; ``stop`` is idempotent and returns once nothing is left running: the server
    answers the requests it accepted for up to ``grace`` seconds first.
    """

    name: str
    #: every port the server listens on, once ready; the first is ``address.port``
    all_ports: tuple[int, ...]

    @property
    def address(self) -> Address:
        """Where the server answers, once ready (``RuntimeError`` before)."""
        ...

    def wait_ready(self, timeout: float | None) -> Address: ...

    def stop(self, timeout: float | None = None, *, grace: float | None = DEFAULT_GRACE) -> None: ...

    def is_alive(self) -> bool: ...


def ready_address(name: str, host: str, port: int | None) -> Address:
    """What a handle's ``address`` returns: ``host`` and ``port`` once the server is ready."""
    if port is None:
        raise RuntimeError(f"{name} is not ready yet: call wait_ready() before asking its address")
    return Address(host, port)


def startup_error(name: str, exc: BaseException) -> Exception:
    """The exception ``wait_ready`` raises when ``serve`` failed before it was ready.

    devkit's own errors (port in use, Executor not importable, bad YAML or endpoint
    signature) already name the thing and the cause, and callers catch them by type, so
    they are kept. Anything else (an Executor's ``__init__`` raising) becomes
    :class:`RuntimeFailToStart` naming the server and the exception.
    """
    if isinstance(exc, DevkitError) and not isinstance(exc, RuntimeFailToStart):
        return exc
    return RuntimeFailToStart(f"{name} failed to start: {type(exc).__name__}: {exc}")
