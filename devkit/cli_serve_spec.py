"""One serving loop for the commands that run a single spec (``devkit worker``, ``devkit gateway``).

Both are what a container or an exported manifest runs: they log plain lines for the
container's log, and serve until SIGTERM or SIGINT, draining first.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from devkit.runtime.base import StopEvent

__all__ = ["serve_until_signal"]


def serve_until_signal(serve: Callable[[StopEvent], Awaitable[None]]) -> int:
    """Run ``serve(stop)`` on a fresh event loop; SIGTERM or SIGINT sets ``stop``. Returns 0."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        stop = StopEvent()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(stop)

    asyncio.run(main())
    return 0
