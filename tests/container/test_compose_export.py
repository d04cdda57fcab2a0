"""An exported docker-compose file brought up for real, queried from the host with devkit's
client and jina's, and torn down (page 3). Needs a Docker engine, docker-compose and devkit's
base image (``devkit build``); run with ``tox -e container``.

compose 1.29 has no ``up --wait``: ``up -d`` returns once the gateway is created, which the
``depends_on: condition: service_healthy`` of the exported file holds back until every worker
passes its gRPC health check; the test then waits on the gateway's own health check.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from docarray import BaseDoc, DocList

from devkit import Client, Flow
from devkit.client.ping import PingCommand, ping
from devkit.testing.ports import free_port

pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.process, pytest.mark.timeout(900)]

COMPAT = Path(__file__).resolve().parents[1] / "compat"

EXECUTOR = """\
import os

from docarray import BaseDoc, DocList
from docarray.typing import NdArray

from devkit import Executor, requests


class TextDoc(BaseDoc):
    text: str = ""
    n: int = 0
    embedding: NdArray | None = None


class Shout(Executor):
    @requests
    def shout(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper() + os.environ["SUFFIX"]
        return docs
"""


class TextDoc(BaseDoc):
    text: str = ""
    n: int = 0


def _problem() -> str | None:
    from devkit.container.engine import engine_problem

    if shutil.which("docker-compose") is None:
        return "docker-compose is not installed"
    return engine_problem()


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(runtime image, Executor image), made by the project's own build (cached by content)."""
    problem = _problem()
    if problem is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"compose export test: {problem} (CI must run it)", pytrace=False)
        pytest.skip(f"compose export test: {problem}")
    from devkit.container.base_image import build_base_image
    from devkit.container.executor_image import build_executor_image, build_runtime_image

    folder = tmp_path_factory.mktemp("exec") / "shout"
    folder.mkdir()
    (folder / "executor.py").write_text(EXECUTOR)
    (folder / "config.yml").write_text("jtype: Shout\npy_modules:\n  - executor.py\n")
    base = os.environ.get("DEVKIT_BASE_IMAGE") or build_base_image()
    return build_runtime_image(base), build_executor_image(folder, base)


@pytest.fixture
def compose_up() -> Iterator[Callable[[str], None]]:
    """``compose_up(path)`` runs ``docker-compose up -d``; everything is removed after the test."""
    started: list[list[str]] = []

    def up(path: str) -> None:
        command = ["docker-compose", "-p", f"devkit-export-{uuid.uuid4().hex[:8]}", "-f", path]
        started.append(command)
        result = subprocess.run([*command, "up", "-d"], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr

    yield up
    for command in started:
        subprocess.run(
            [*command, "down", "-v", "--remove-orphans", "-t", "10"], capture_output=True, timeout=120
        )


def jina_client(port: int, protocol: str, calls: list[dict]) -> list[dict]:
    """Run jina 3.34's Client (tests/compat/jina_client.py) in the jina environment."""
    sys.path.insert(0, str(COMPAT))
    import jina_env

    try:
        python = jina_env.ensure(log=lambda message: print(message, file=sys.stderr))
    except jina_env.JinaEnvUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"jina environment unavailable: {exc}", pytrace=False)
        pytest.skip(f"jina environment unavailable: {exc}")
    result = subprocess.run(
        [str(python), str(COMPAT / "jina_client.py"), str(port), protocol],
        input=json.dumps(calls),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_an_exported_flow_runs_in_docker_compose_and_answers_both_clients(
    images, compose_up, tmp_path, free_port
):
    runtime_image, shout_image = images
    grpc_port, http_port = free_port, _another_free_port(free_port)
    flow = (
        Flow(host="127.0.0.1", protocol=["grpc", "http"], port=[grpc_port, http_port])
        .add(name="shout", uses=f"docker://{shout_image}", replicas=2, env={"SUFFIX": "!"})
        .add(name="keep", shards=2, polling="ALL")  # pass-through Executors in the runtime image
    )
    path = flow.to_docker_compose_yaml(str(tmp_path / "docker-compose.yml"), image=runtime_image)
    assert "version" not in Path(path).read_text().split("\n", 1)[0]
    compose_up(path)
    ready = PingCommand("flow", f"127.0.0.1:{grpc_port}", 2.0, attempts=120, min_successful=1, interval=0.5)
    assert ping(ready, out=io.StringIO()), "the gateway never passed its health check"

    client = Client(host="127.0.0.1", port=grpc_port)
    got = client.post(
        "/", inputs=DocList[TextDoc]([TextDoc(text="hi"), TextDoc(text="yo")]), return_type=DocList[TextDoc]
    )
    assert got.text == ["HI!", "YO!"]  # SUFFIX is in the container's environment

    (outcome,) = jina_client(http_port, "http", [{"on": "/", "texts": ["jina"]}])
    assert outcome["ok"], outcome
    assert [doc["text"] for response in outcome["responses"] for doc in response["docs"]] == ["JINA!"]


def _another_free_port(taken: int) -> int:
    while (port := free_port()) == taken:
        pass
    return port
