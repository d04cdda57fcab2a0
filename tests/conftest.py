"""Shared fixtures: the runtime matrix every serving test runs on."""

from __future__ import annotations

import pytest

#: Tests that depend on where an Executor runs take the ``runtime`` fixture and run on both.
RUNTIMES = [
    pytest.param("thread", id="thread"),
    pytest.param("process", id="process", marks=pytest.mark.process),
]


@pytest.fixture(scope="module", params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    """The runtime to pass as ``Deployment(runtime=...)``."""
    return str(request.param)
