"""Ports for servers a test starts itself (a CLI child told ``--port N``).

Asking the OS for port 0 and closing the socket leaves a window in which the same number can
be handed to anything else that asks for an ephemeral port: another server binding port 0, or
the local end of any outgoing connection. Ports are therefore taken *below* the OS's ephemeral
range, from a slice of it owned by this pytest-xdist worker, and checked free by binding.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import threading

__all__ = ["free_port"]

_FIRST = 10_000
_SLICES = 16  # xdist workers gw0..gw15 each own a slice; more wrap around
_lock = threading.Lock()
_counter: itertools.count[int] | None = None


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
            return int(ranges.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default; other systems start theirs higher


def _slice() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    width = max((_ephemeral_low() - _FIRST) // _SLICES, 64)
    start = _FIRST + (index % _SLICES) * width
    return range(start, start + width)


def _bindable(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free now and that the OS will not hand out on its own.

    Successive calls in one process return different ports (until the slice wraps around).
    """
    global _counter
    owned = _slice()
    with _lock:
        if _counter is None:  # a random start, so two runs on one machine rarely meet
            _counter = itertools.count(random.randrange(len(owned)))
        for _ in range(len(owned)):
            port = owned[next(_counter) % len(owned)]
            if _bindable(port, host):
                return port
    raise RuntimeError(f"no free port in {owned.start}-{owned.stop - 1} on {host}")
