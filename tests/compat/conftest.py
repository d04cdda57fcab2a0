"""Fixtures of the jina compatibility tests: the jina environment, jina servers, a jina client.

Every test here is marked ``jina_compat`` and deselected from the default run. jina 3.34
lives in its own virtual environment (see ``jina_env.py``), so jina's side of each test
runs as a subprocess of that environment's python; devkit's side runs in this process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import jina_env  # noqa: E402

#: How long building the jina environment may take (pip resolving and downloading).
ENV_BUILD_TIMEOUT = 1500.0
#: How long a jina Deployment/Flow subprocess may take to say it is ready.
SERVER_READY_TIMEOUT = 60.0

_env_fixture_done = False


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Give the test that builds the jina environment the build's own (generous) timeout.

    The session fixture ``jina_python`` is set up inside the first test that uses it, so
    that test's timeout would otherwise have to cover a pip install. Runs before
    pytest-timeout reads the marker; only the first jina_compat test of a process that
    has to build the environment is affected.
    """
    if (
        not _env_fixture_done
        and item.get_closest_marker("jina_compat") is not None
        and not jina_env.looks_ready()
    ):
        marker = item.get_closest_marker("timeout")
        own = float(marker.args[0]) if marker and marker.args else float(item.config.getini("timeout") or 60)
        item.add_marker(pytest.mark.timeout(ENV_BUILD_TIMEOUT + own), append=False)  # closest wins
    yield


@pytest.fixture(scope="session")
def jina_python() -> Path:
    """The jina 3.34 environment's python; builds the environment once if needed.

    When it cannot be built (no registry, no matching wheels) the tests that need it are
    skipped with the reason on a developer's machine (the only skip in this suite). In CI
    (the ``CI`` environment variable is set, as CI services and ``.ci/run`` do) they fail
    with the reason instead: a compat stage that tested nothing must not pass.
    """
    global _env_fixture_done
    try:
        return jina_env.ensure(
            pip_timeout=ENV_BUILD_TIMEOUT, log=lambda message: print(message, file=sys.stderr)
        )
    except jina_env.JinaEnvUnavailable as exc:
        reason = f"jina {jina_env.JINA_VERSION} environment unavailable: {exc}"
        if in_ci():
            pytest.fail(f"{reason}\n(CI is set, so this fails instead of skipping)", pytrace=False)
        pytest.skip(reason)
    finally:
        _env_fixture_done = True


def in_ci() -> bool:
    """Whether we run in CI: ``CI`` set to anything but empty, ``0``, ``false`` or ``no``."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _jina_process_env() -> dict[str, str]:
    env = jina_env.clean_env()
    env["JINA_OPTOUT_TELEMETRY"] = "1"
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


class JinaServer:
    """A jina Deployment or Flow running in a subprocess of the jina environment."""

    def __init__(self, python: Path, kind: str, protocol: str = "grpc") -> None:
        self.kind = kind
        self.protocol = protocol
        self.output: list[str] = []
        self.port = 0
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            [str(python), str(HERE / "jina_server.py"), kind, protocol],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_jina_process_env(),
            cwd=HERE,
            start_new_session=True,  # its own process group: jina starts children of its own
        )
        # jina logs a lot: keep reading so it never blocks on a full pipe
        self._reader = threading.Thread(target=self._read, name=f"jina-{kind}-output", daemon=True)
        self._reader.start()
        if not self._ready.wait(SERVER_READY_TIMEOUT):
            self.stop()
            tail = "".join(self.output[-40:])
            raise RuntimeError(f"jina {kind} did not become ready in {SERVER_READY_TIMEOUT:.0f} s:\n{tail}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("READY ") and not self._ready.is_set():
                self.port = int(line.split()[1])
                self._ready.set()
            self.output.append(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()  # the server leaves its `with` block and shuts down
                self.proc.wait(timeout=20)
            except (subprocess.TimeoutExpired, OSError):
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever of jina's children is left
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


@pytest.fixture(scope="module")
def jina_deployment(jina_python: Path) -> Iterator[JinaServer]:
    """jina's ``Deployment(uses=Shout, name='shouter')`` on 127.0.0.1 (see jina_server.py)."""
    server = JinaServer(jina_python, "deployment")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def jina_flow(jina_python: Path) -> Iterator[JinaServer]:
    """jina's ``Flow().add(uses=Shout, name='shouter').add(uses=Tag, name='tagger')``."""
    server = JinaServer(jina_python, "flow")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def jina_executor(jina_python: Path) -> Iterator[JinaServer]:
    """jina's ``Deployment(uses=Shout, include_gateway=False)``: the Executor's own port."""
    server = JinaServer(jina_python, "executor")
    try:
        yield server
    finally:
        server.stop()


JinaClientRunner = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def jina_client(jina_python: Path) -> JinaClientRunner:
    """Run jina's Client against ``127.0.0.1:port``; see jina_client.py for the call format."""

    def run(
        port: int, calls: list[dict[str, Any]], timeout: float = 60.0, protocol: str = "grpc"
    ) -> list[dict[str, Any]]:
        proc = subprocess.run(
            [str(jina_python), str(HERE / "jina_client.py"), str(port), protocol],
            input=json.dumps(calls),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_jina_process_env(),
            cwd=HERE,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
        if proc.returncode != 0 or not lines:
            raise AssertionError(
                f"jina client exited with {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\n"
                f"stderr:\n{proc.stderr[-5000:]}"
            )
        outcomes: list[dict[str, Any]] = json.loads(lines[-1])
        return outcomes

    return run


JinaServerFactory = Callable[[str, str], JinaServer]


@pytest.fixture(scope="module")
def jina_servers(jina_python: Path) -> Iterator[JinaServerFactory]:
    """``jina_servers(kind, protocol)``: jina's Deployment or Flow served over ``protocol``
    (grpc, http, websocket), started once per test module and stopped after it."""
    started: dict[tuple[str, str], JinaServer] = {}

    def get(kind: str, protocol: str) -> JinaServer:
        if (kind, protocol) not in started:
            started[kind, protocol] = JinaServer(jina_python, kind, protocol)
        return started[kind, protocol]

    try:
        yield get
    finally:
        for server in started.values():
            server.stop()
