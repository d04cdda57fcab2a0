"""When to swap a gRPC channel that is waiting out its reconnect backoff for a fresh one.

A channel whose connection attempt failed waits out gRPC's reconnect backoff (1 s, growing
to minutes) and fails every call meanwhile, even after the peer is back. A fresh channel
dials at once. Both hops use this: the gateway towards its Executors and the client towards
its server. Swaps are rate-limited, so a long outage costs at most one channel per
``REOPEN_INTERVAL``, never one per request.
"""

from __future__ import annotations

import math
import time
from typing import Any

import grpc

__all__ = ["PRIVATE_POOL", "REOPEN_INTERVAL", "Redial", "blocking_channel_state"]

#: A private subchannel pool per channel: a replacement channel must not share the old
#: channel's connection (and its reconnect backoff) through gRPC's global pool.
PRIVATE_POOL = ("grpc.use_local_subchannel_pool", 1)

#: At most one replacement channel in this many seconds (shorter than the retry
#: backoff's first step, so every retried request gets a fresh dial).
REOPEN_INTERVAL = 0.04

_TRANSIENT_FAILURE = grpc.ChannelConnectivity.TRANSIENT_FAILURE

#: grpc core's connectivity numbers to the public states (asked on every blocking call).
_STATE_OF_NUMBER = {state.value[0]: state for state in grpc.ChannelConnectivity}


class Redial:
    """Remembers the last swap and says when a channel is due for a replacement.

    The first swap is never held back: a server restarted within ``REOPEN_INTERVAL`` of the
    channel's opening (a thread-runtime Deployment takes about 15 ms) must still be reached.
    """

    def __init__(self) -> None:
        self.swapped_at = -math.inf

    def due(self, state: grpc.ChannelConnectivity) -> bool:
        """True (and the clock restarts) if a channel in ``state`` should be swapped now."""
        now = time.monotonic()
        if state is not _TRANSIENT_FAILURE or now - self.swapped_at < REOPEN_INTERVAL:
            return False
        self.swapped_at = now
        return True

    def wait(self, state: grpc.ChannelConnectivity) -> float | None:
        """Seconds until a channel in ``state`` may be swapped (0: now); ``None`` if it needs no swap.

        A caller about to use the channel waits this out rather than send into the backoff:
        the call would fail without leaving the process, though the peer may be back.
        """
        if state is not _TRANSIENT_FAILURE:
            return None
        return max(0.0, self.swapped_at + REOPEN_INTERVAL - time.monotonic())


def blocking_channel_state(channel: grpc.Channel) -> grpc.ChannelConnectivity:
    """The state of a blocking channel, without trying to connect.

    The blocking API only reports it through ``subscribe`` (a polling thread per channel);
    this asks the core channel directly, as ``grpc.aio.Channel.get_state`` does.
    """
    core: Any = getattr(channel, "_channel", None)
    if core is None:
        return grpc.ChannelConnectivity.IDLE
    return _STATE_OF_NUMBER[core.check_connectivity_state(False)]
