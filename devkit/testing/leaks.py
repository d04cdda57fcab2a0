"""Detecting threads, child processes, containers and listening sockets left behind by a test."""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from devkit.runtime.address import Address

__all__ = ["Snapshot", "leaked_since", "listening", "open_ports", "snapshot"]

_P = TypeVar("_P", int, Address)


@dataclass(frozen=True)
class Snapshot:
    threads: frozenset[int]
    children: frozenset[int]
    containers: frozenset[str] = frozenset()


def _devkit_threads() -> dict[int, str]:
    return {
        thread.ident or 0: thread.name
        for thread in threading.enumerate()
        if thread.name.startswith("devkit-") and thread.is_alive()
    }


def _children() -> dict[int, str]:
    return {child.pid or 0: child.name for child in multiprocessing.active_children()}


def _containers() -> dict[str, str]:
    """This process's devkit containers (asks the engine only once a container was started)."""
    from devkit.container.engine import running_containers

    return running_containers()


def snapshot() -> Snapshot:
    return Snapshot(frozenset(_devkit_threads()), frozenset(_children()), frozenset(_containers()))


def leaked_since(before: Snapshot, grace: float = 2.0) -> list[str]:
    """What started after ``before`` and is still running, after up to ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while True:
        threads = {ident: name for ident, name in _devkit_threads().items() if ident not in before.threads}
        children = {pid: name for pid, name in _children().items() if pid not in before.children}
        containers = {cid: name for cid, name in _containers().items() if cid not in before.containers}
        if (not threads and not children and not containers) or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return (
        [f"thread {name!r}" for name in threads.values()]
        + [f"process {name!r} (pid {pid})" for pid, name in children.items()]
        + [f"container {name!r} ({cid[:12]})" for cid, name in containers.items()]
    )


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def open_ports(ports: Sequence[_P], grace: float = 2.0) -> list[_P]:
    """The ports among ``ports`` (on loopback, or each at its :class:`Address`) still listening
    after up to ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while True:
        still = [
            port
            for port in ports
            if (listening(port.port, port.host) if isinstance(port, Address) else listening(port))
        ]
        if not still or time.monotonic() >= deadline:
            return still
        time.sleep(0.05)
