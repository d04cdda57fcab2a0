"""The local stand-in for Executor Hub: jinaai:// URIs resolve against a folder registry."""

from __future__ import annotations

import textwrap

import pytest

from devkit import Deployment, Executor, Flow
from devkit.cli import main
from devkit.errors import ConfigError


@pytest.fixture
def hub(tmp_path, monkeypatch):
    root = tmp_path / "hub"
    monkeypatch.setenv("DEVKIT_HUB_ROOT", str(root))
    return root


@pytest.fixture
def hello_folder(tmp_path):
    folder = tmp_path / "Hello"
    folder.mkdir()
    (folder / "executor.py").write_text(
        textwrap.dedent(
            """\
            from devkit import Executor, requests


            class Hello(Executor):
                def __init__(self, greeting="hello", **kwargs):
                    super().__init__(**kwargs)
                    self.greeting = greeting

                @requests
                def foo(self, docs, **kwargs):
                    for doc in docs:
                        doc.text = self.greeting
            """
        )
    )
    (folder / "config.yml").write_text("jtype: Hello\npy_modules:\n  - executor.py\n")
    return folder


def test_push_then_from_hub_loads_the_executor_from_the_folder_registry(hub, hello_folder, capsys):
    assert main(["hub", "push", str(hello_folder), "-t", "v1", "-t", "latest"]) == 0
    assert capsys.readouterr().out.split() == ["jinaai://Hello:v1", "jinaai://Hello:latest"]
    assert main(["hub", "list"]) == 0
    assert capsys.readouterr().out.split() == ["Hello:latest", "Hello:v1"]
    executor = Executor.from_hub("jinaai://jina-ai/Hello", uses_with={"greeting": "hi"})
    assert type(executor).__name__ == "Hello" and executor.greeting == "hi"
    assert main(["hub", "pull", "jinaai://Hello:v1"]) == 0
    assert capsys.readouterr().out.strip() == str(hub / "Hello" / "v1")


def test_a_deployment_serves_a_hub_executor(hub, hello_folder):
    from docarray import DocList
    from docarray.documents import TextDoc

    main(["hub", "push", str(hello_folder)])
    with Deployment(uses="jinaai://Hello") as dep:
        docs = dep.post("/", inputs=DocList[TextDoc]([TextDoc(text="x")]), return_type=DocList[TextDoc])
    assert docs.text == ["hello"]


def test_a_missing_hub_executor_names_the_registry_and_the_fix(hub):
    with pytest.raises(ConfigError, match=r"'jinaai://Nope' is not in the local hub .*devkit hub push"):
        Flow().add(uses="jinaai://Nope")


def test_a_docker_hub_uri_names_the_local_image():
    deployment = Deployment(name="enc", uses="jinaai+docker://jina-ai/Encoder:v2")
    assert deployment.spec.executor.uses == "docker://encoder:v2"
