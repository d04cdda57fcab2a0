"""The ``devkit`` command as a user runs it: a real process, its exit code and its stderr."""

import socket
import subprocess
import textwrap
from pathlib import Path

import pytest
from cli_run import devkit, serving
from docarray import BaseDoc, DocList

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
@pytest.mark.slow
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


# -- each error names the thing, the cause and the fix, once --------------------------------
SHOUT = """
from devkit import Executor, requests


class Shout(Executor):
    pass


class Broken(Executor):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        raise ZeroDivisionError("the model file is empty")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "executor.py").write_text(SHOUT)
    (tmp_path / "flow.yml").write_text("jtype: Flw\nexecutors:\n  - name: shout\n")
    return tmp_path


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line devkit printed; the test fails when there is more (a log line, a hint)."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["serve", "flow.yml"], ["flow", "--uses", "flow.yml"]])
def test_a_mistyped_jtype_is_named_with_the_nearest_one(project, command):
    result = devkit(*command, cwd=project)
    assert result.returncode == 1
    assert error_line(result) == "devkit: error: flow.yml:1: unknown jtype 'Flw'; did you mean 'jtype: Flow'?"


def test_serving_a_python_file_says_how_to_serve_its_executor(project):
    result = devkit("serve", "executor.py", cwd=project)
    assert result.returncode == 1
    assert error_line(result) == (
        "devkit: error: executor.py is a Python file, but `devkit serve` takes a YAML file "
        "(jtype: Flow, Deployment or an Executor class); to serve an Executor class from it, "
        "run `devkit executor --uses ClassName --py-modules executor.py`"
    )


@pytest.mark.parametrize(
    "arguments, expected",
    [
        (
            ["executor", "--replicas", "two"],
            "argument --replicas: expected a positive integer such as 2, got 'two'",
        ),
        (["executor", "--port", "http"], "argument --port: expected a port number from 0 to 65535"),
        (["ping", "--timeout", "soon", "localhost:1"], "argument --timeout: expected a number of seconds"),
    ],
    ids=["replicas", "port", "timeout"],
)
def test_argument_errors_read_as_words(project, arguments, expected):
    result = devkit(*arguments, cwd=project)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "invalid" not in result.stderr and "_positive_int" not in result.stderr


def test_a_port_in_use_prints_only_devkits_message(project):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = devkit("executor", "--uses", "Shout", "--py-modules", "executor.py", "--host", "127.0.0.1",
                        "--port", str(port), cwd=project)  # fmt: skip
    assert result.returncode == 1
    assert error_line(result) == (
        f"devkit: error: Deployment 'executor' cannot listen on 127.0.0.1:{port}: the port is already in use; "
        "stop the program listening there or choose another port with --port"
    )


def test_the_verbose_hint_comes_once_and_only_with_an_error_from_user_code(project):
    result = devkit("executor", "--uses", "Broken", "--py-modules", "executor.py", "--host", "127.0.0.1",
                    cwd=project)  # fmt: skip
    assert result.returncode == 1
    line = error_line(result)
    assert "ZeroDivisionError: the model file is empty" in line
    assert line.endswith("(run again with --verbose for the traceback)")
    assert result.stderr.count("--verbose") == 1
    verbose = devkit("executor", "--verbose", "--uses", "Broken", "--py-modules", "executor.py", "--host",
                     "127.0.0.1", cwd=project)  # fmt: skip
    assert "Traceback (most recent call last)" in verbose.stderr


def test_every_port_of_a_multi_protocol_deployment_is_checked(project, free_port):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        (project / "deployment.yml").write_text(
            f"jtype: Deployment\nwith:\n  protocol: [grpc, http]\n  port: [{free_port}, {busy}]\n"
        )
        result = devkit("deployment", "--uses", "deployment.yml", "--host", "127.0.0.1", cwd=project)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{busy}: the port is already in use" in error_line(result)


MISFIT = """
from docarray import BaseDoc, DocList
from devkit import Executor, requests


class Text(BaseDoc):
    text: str = ""


class Labelled(BaseDoc):
    label: str


class Reader(Executor):
    @requests
    def read(self, docs: DocList[Text], **kwargs) -> DocList[Text]:
        return docs


class Labeller(Executor):
    @requests
    def label(self, docs: DocList[Labelled], **kwargs) -> DocList[Labelled]:
        return docs
"""


def test_executors_that_do_not_fit_are_one_line_with_the_fix(tmp_path):
    (tmp_path / "misfit.py").write_text(MISFIT)
    (tmp_path / "flow.yml").write_text(
        "jtype: Flow\nexecutors:\n  - name: reader\n    uses: Reader\n    py_modules: misfit.py\n"
        "  - name: labeller\n    uses: Labeller\n    py_modules: misfit.py\n"
    )
    result = devkit("flow", "--uses", "flow.yml", "--host", "127.0.0.1", cwd=tmp_path)
    assert result.returncode == 1
    line = error_line(result)
    assert "'reader' returns Text but 'labeller' expects Labelled: field 'label'" in line
    assert "`devkit check flow.yml`" in line and "--verbose" not in line
