"""Running the ``devkit`` command in a child process, as the CLI tests of this folder do."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit import Client

#: as the console script runs it: ``-P`` keeps the working directory off ``sys.path``
DEVKIT = [sys.executable, "-P", "-m", "devkit.cli"]


def devkit(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``devkit <args>`` run to its end, its output captured."""
    return subprocess.run([*DEVKIT, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def serving(*args: str, cwd: Path, port: int, stop_timeout: float = 30) -> Iterator[Client]:
    """``devkit <args> --port <port>`` until the block ends, then one Ctrl-C, after which it
    must exit 0 within ``stop_timeout`` seconds."""
    command = [*DEVKIT, *args, "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        client = Client(host="127.0.0.1", port=port)
        while not client.is_flow_ready(timeout=0.5):
            if process.poll() is not None:
                pytest.fail(f"{' '.join(args)} exited with {process.returncode}: {process.communicate()[1]}")
        yield client
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=stop_timeout)
    assert process.returncode == 0, stderr
