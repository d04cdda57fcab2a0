"""Stopping the ``devkit`` command with requests in flight: every accepted request is answered.

The real command runs in a child process serving a Flow: an async Executor that records each
request's arrival (so the test knows the gateway accepted it), then a sync Executor whose
calls wait, one at a time, until the test creates a ``release`` file. Eight requests are
accepted, then the
command gets SIGTERM (or Ctrl-C's SIGINT followed by tox's SIGTERM): while it drains, health
says NOT_SERVING and new requests are refused with UNAVAILABLE; once released, all eight are
answered with data and the command exits 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from docarray import BaseDoc, DocList
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devkit.proto import jina_pb2
from devkit.wire import new_request, read_docs

pytestmark = [pytest.mark.process, pytest.mark.slow, pytest.mark.timeout(120)]

START_TIMEOUT = 40.0  # seconds; a process-runtime child imports docarray and grpc first
WAIT = 30.0  # seconds any other step may take on a loaded machine
IN_FLIGHT = 8

EXECUTOR = '''
import time
from pathlib import Path

from docarray import BaseDoc, DocList

from devkit import Executor, requests


class TextDoc(BaseDoc):
    text: str = ""


class Arrivals(Executor):
    """Async: records that a request arrived, as a file named after its text."""

    def __init__(self, folder: str, **kwargs):
        super().__init__(**kwargs)
        self.folder = Path(folder)

    @requests(on="/")
    async def arrive(self, docs: DocList[TextDoc], **kwargs) -> None:
        for doc in docs:
            (self.folder / doc.text).touch()


class Waiter(Executor):
    """Sync: each call waits for the release file, then answers with its text in capitals."""

    def __init__(self, release: str, **kwargs):
        super().__init__(**kwargs)
        self.release = Path(release)

    @requests(on="/")
    def answer(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        deadline = time.monotonic() + 60
        while not self.release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        for doc in docs:
            doc.text = doc.text.upper()
        return docs
'''


class TextDoc(BaseDoc):
    text: str = ""


def devkit_command() -> list[str]:
    script = Path(sys.executable).with_name("devkit")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "devkit.cli"]


def write_files(folder: Path, release: Path, arrived: Path) -> None:
    (folder / "waiter.py").write_text(textwrap.dedent(EXECUTOR))
    (folder / "flow.yml").write_text(
        textwrap.dedent(
            f"""\
            jtype: Flow
            executors:
              - name: arrivals
                uses: Arrivals
                py_modules: [waiter.py]
                uses_with:
                  folder: {str(arrived)!r}
              - name: waiter
                uses: Waiter
                py_modules: [waiter.py]
                uses_with:
                  release: {str(release)!r}
            """
        )
    )


def health(port: int) -> int | None:
    """The health status the server reports, or None when nothing answers."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1.0)
        except grpc.RpcError:
            return None
        return reply.status


def wait_for_health(
    process: subprocess.Popen[bytes], port: int, status: int, log: Path, within: float
) -> None:
    deadline = time.monotonic() + within
    while health(port) != status:
        if process.poll() is not None:
            pytest.fail(f"devkit exited with {process.returncode} early:\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"health never became {status} within {within} s:\n{log.read_text()}")
        time.sleep(0.05)


@contextmanager
def devkit(args: list[str], cwd: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = cwd / "devkit.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*devkit_command(), *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield process, log
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)


def send(channel: grpc.Channel, text: str) -> grpc.Future:
    call = channel.unary_unary(
        "/jina.JinaSingleDataRequestRPC/process_single_data",
        request_serializer=jina_pb2.DataRequestProto.SerializeToString,
        response_deserializer=jina_pb2.DataRequestProto.FromString,
    )
    return call.future(new_request("/", DocList[TextDoc]([TextDoc(text=text)])), timeout=2 * WAIT)


def wait_for_arrivals(arrived: Path, count: int, log: Path) -> None:
    deadline = time.monotonic() + WAIT
    while len(list(arrived.iterdir())) < count:
        if time.monotonic() > deadline:
            pytest.fail(
                f"only {len(list(arrived.iterdir()))} of {count} requests arrived:\n{log.read_text()}"
            )
        time.sleep(0.02)


COMMANDS = {
    "flow-process": ["flow", "--uses", "flow.yml", "--runtime", "process"],
    "flow-thread": ["flow", "--uses", "flow.yml", "--runtime", "thread"],
    "serve": ["serve", "flow.yml"],  # the process runtime by default
}


@pytest.mark.parametrize(
    ("served", "signals"),
    [
        ("flow-process", ["SIGTERM"]),
        ("flow-thread", ["SIGTERM"]),
        ("serve", ["SIGINT", "SIGTERM"]),  # Ctrl-C under tox: SIGINT, then tox's SIGTERM 0.3 s later
    ],
)
def test_stopping_answers_every_accepted_request_then_exits_0(
    served: str, signals: list[str], free_port: int, tmp_path: Path
) -> None:
    release, arrived = tmp_path / "release", tmp_path / "arrived"
    arrived.mkdir()
    write_files(tmp_path, release, arrived)
    args = [*COMMANDS[served], "--port", str(free_port), "--host", "127.0.0.1"]
    with devkit(args, tmp_path) as (process, log), grpc.insecure_channel(f"127.0.0.1:{free_port}") as channel:
        wait_for_health(process, free_port, health_pb2.HealthCheckResponse.SERVING, log, START_TIMEOUT)
        in_flight = [send(channel, f"request {i}") for i in range(IN_FLIGHT)]
        wait_for_arrivals(arrived, IN_FLIGHT, log)  # through the gateway: all eight were accepted

        process.send_signal(getattr(signal, signals[0]))
        wait_for_health(process, free_port, health_pb2.HealthCheckResponse.NOT_SERVING, log, WAIT)
        for name in signals[1:]:
            process.send_signal(getattr(signal, name))  # an echo of the first signal: not a force
        with grpc.insecure_channel(f"127.0.0.1:{free_port}") as late, pytest.raises(grpc.RpcError) as refused:
            send(late, "too late").result()
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in refused.value.details()

        release.touch()
        answers = [read_docs(future.result(WAIT), DocList[TextDoc]).text for future in in_flight]
        assert answers == [[f"REQUEST {i}"] for i in range(IN_FLIGHT)]
        assert process.wait(WAIT) == 0, log.read_text()


def test_tox_s_sigterm_after_ctrl_c_during_exit_still_exits_0(free_port: int, tmp_path: Path) -> None:
    # tox forwards Ctrl-C as SIGINT, then sends SIGTERM 0.3 s later: when the servers have
    # already stopped, that SIGTERM lands while the interpreter tears down
    release, arrived = tmp_path / "release", tmp_path / "arrived"
    arrived.mkdir()
    write_files(tmp_path, release, arrived)
    args = [*COMMANDS["flow-thread"], "--port", str(free_port), "--host", "127.0.0.1"]
    with devkit(args, tmp_path) as (process, log):
        wait_for_health(process, free_port, health_pb2.HealthCheckResponse.SERVING, log, START_TIMEOUT)
        process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + WAIT
        while health(free_port) is not None and process.poll() is None:  # until its servers are gone
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)  # a no-op if it has exited already
        assert process.wait(WAIT) == 0, log.read_text()
