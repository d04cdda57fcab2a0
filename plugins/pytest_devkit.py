"""devkit's pytest plugin: leak checks and fixtures for serving Executors in tests.

Registered through the ``pytest11`` entry point, so installing devkit is enough.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from devkit.testing.leaks import leaked_since, snapshot

__all__ = ["free_port", "no_leaks"]


@pytest.fixture
def free_port() -> int:
    """A TCP port on loopback that was free a moment ago (the OS chose it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves a devkit thread or a child process running."""
    before = snapshot()
    yield
    leaked = leaked_since(before)
    if leaked:
        pytest.fail("the test left running: " + ", ".join(leaked), pytrace=False)
