"""What every runtime returns: a handle on one started server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

__all__ = ["Handle", "ServeFn"]

#: A coroutine function that serves ``spec`` until the event is set. It calls
#: ``on_ready(port)`` once it listens. Runtimes only call it; they never look inside.
ServeFn = Callable[[Any, Callable[[int], None], asyncio.Event], Awaitable[None]]


class Handle(Protocol):
    """A server started by a runtime.

    ``wait_ready`` returns the bound port or raises ``RuntimeFailToStart`` naming the
    server and the cause; ``stop`` is idempotent and returns once nothing is left running.
    """

    name: str

    def wait_ready(self, timeout: float | None) -> int: ...

    def stop(self, timeout: float = 10.0) -> None: ...

    def is_alive(self) -> bool: ...
