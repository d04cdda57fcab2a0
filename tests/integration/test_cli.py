"""The ``devkit`` command as a user runs it: a real process, its exit code and its stderr."""

import contextlib
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from docarray import BaseDoc, DocList

from devkit import Client

#: as the console script runs it: ``-P`` keeps the working directory off ``sys.path``
DEVKIT = [sys.executable, "-P", "-m", "devkit.cli"]

HASH_EMBED = """
from docarray import BaseDoc, DocList
from devkit import Executor, requests


class Sentence(BaseDoc):
    text: str = ""
    embedding: list[float] = []


class HashEmbed(Executor):
    @requests
    def embed(self, docs: DocList[Sentence], **kwargs) -> DocList[Sentence]:
        for doc in docs:
            doc.embedding = [float(len(doc.text))]
"""


class Sentence(BaseDoc):
    text: str = ""
    embedding: list[float] = []


def devkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DEVKIT, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@contextlib.contextmanager
def serving(*args: str, cwd: Path, port: int) -> Iterator[Client]:
    """``devkit <args> --port <port>`` until the block ends, then one Ctrl-C."""
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
        process.communicate(timeout=30)


@pytest.fixture
def wordkit(tmp_path: Path) -> Path:
    """A project: the package ``wordkit`` and a flow.yml using ``wordkit.executors.HashEmbed``."""
    project = tmp_path / "project"
    (project / "wordkit").mkdir(parents=True)
    (project / "wordkit" / "__init__.py").write_text("")
    (project / "wordkit" / "executors.py").write_text(HASH_EMBED)
    (project / "flow.yml").write_text(
        textwrap.dedent(
            """\
            jtype: Flow
            executors:
              - name: embed
                uses: wordkit.executors.HashEmbed
            """
        )
    )
    return project


# -- every command resolves `uses` and `py_modules` the same way ----------------------------
@pytest.mark.process
@pytest.mark.parametrize(
    "where, runtime", [("project", "thread"), ("parent", "process")], ids=["in-project", "from-parent"]
)
def test_check_finds_the_executor_that_flow_serves_from_the_same_directory(
    wordkit, where, runtime, free_port
):
    cwd, path = (wordkit, "flow.yml") if where == "project" else (wordkit.parent, "project/flow.yml")
    check = devkit("check", path, cwd=cwd)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "0 incompatibilities" in check.stdout
    with serving("flow", "--uses", path, "--runtime", runtime, cwd=cwd, port=free_port) as client:
        docs = client.post("/", Sentence(text="four"), return_type=DocList[Sentence])
    assert docs.embedding == [[4.0]]
