"""An Executor's ``env``: each Executor sees its own values, and none outlives its Executors.

On the thread runtime all Executors share the test's process environment, so two running
Executors asking different values for one variable is refused with an error that names the
variable and suggests ``runtime='process'``, where each has an environment of its own.
"""

from __future__ import annotations

import os

import pytest
from docarray import BaseDoc, DocList

from devkit import Deployment, Executor, requests
from devkit.errors import ConfigError

KEY = "DEVKIT_TEST_ENV_COLOUR"


class TextDoc(BaseDoc):
    text: str = ""


class ReadsColour(Executor):
    @requests
    def read(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        return DocList[TextDoc]([TextDoc(text=os.environ.get(KEY, "<unset>"))])


def colour(dep: Deployment) -> str:
    return dep.post("/", DocList[TextDoc]([TextDoc()]), return_type=DocList[TextDoc])[0].text


def deployment(name: str, value: str, runtime: str = "thread") -> Deployment:
    return Deployment(uses=ReadsColour, name=name, runtime=runtime, env={KEY: value}, quiet=True)


@pytest.fixture(autouse=True)
def no_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY, raising=False)


def test_a_conflicting_env_on_the_thread_runtime_is_refused_naming_the_variable() -> None:
    with deployment("red", "red") as red:
        with (
            pytest.raises(
                ConfigError, match=rf"blue/rep-0 sets env {KEY}='blue'.*red/rep-0.*runtime='process'"
            ),
            deployment("blue", "blue"),
        ):
            pass
        assert colour(red) == "red"  # the refused Executor changed nothing
    assert KEY not in os.environ


def test_the_same_value_is_shared_and_outlives_neither_executor() -> None:
    first, second = deployment("first", "green"), deployment("second", "green")
    first.start()
    try:
        with second:
            assert colour(first) == colour(second) == "green"
            first.close()  # the first to start stops first
            assert colour(second) == "green"
    finally:
        first.close()
    assert KEY not in os.environ


def test_the_value_from_before_comes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY, "outside")
    with deployment("inside", "inside") as dep:
        assert colour(dep) == "inside"
    assert os.environ[KEY] == "outside"


@pytest.mark.process
def test_on_the_process_runtime_each_executor_has_its_own_environment() -> None:
    with deployment("red", "red", "process") as red, deployment("blue", "blue", "process") as blue:
        assert (colour(red), colour(blue)) == ("red", "blue")
    assert KEY not in os.environ


@pytest.mark.process
def test_a_process_child_sees_the_parents_environment_as_it_is_when_the_child_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Children fork from a fork server started earlier: they still see what the parent set since."""
    with Deployment(uses=ReadsColour, name="before", runtime="process", quiet=True) as before:
        assert colour(before) == "<unset>"  # the fork server is running from here on
    monkeypatch.setenv(KEY, "set later")
    with Deployment(uses=ReadsColour, name="after", runtime="process", quiet=True) as after:
        assert colour(after) == "set later"
    monkeypatch.delenv(KEY)
    with Deployment(uses=ReadsColour, name="unset", runtime="process", quiet=True) as unset:
        assert colour(unset) == "<unset>"
