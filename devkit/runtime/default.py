"""The runtime a Flow or Deployment runs on when it is not given one.

It is ``'thread'``; the test kit switches it for the length of one test, so that
``@pytest.mark.devkit_runtimes('thread', 'process')`` also reaches Flows and Deployments
a test builds itself. Process-wide on purpose: a Flow built in a helper thread of the
test follows it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from devkit.spec.models import RUNTIME_KINDS

__all__ = ["RUNTIMES", "default_runtime", "runtime_default"]

#: The runtimes a Flow or Deployment can use.
RUNTIMES = RUNTIME_KINDS

_current = "thread"


def default_runtime() -> str:
    """The runtime used when ``runtime=`` is not passed."""
    return _current


@contextmanager
def runtime_default(name: str) -> Iterator[None]:
    """Make ``name`` the default runtime inside the ``with`` block, then restore the previous one."""
    global _current
    if name not in RUNTIMES:
        raise ValueError(f"runtime must be one of {list(RUNTIMES)}, got {name!r}")
    previous, _current = _current, name
    try:
        yield
    finally:
        _current = previous
