"""Turning ``uses`` into an Executor class: one resolver, and errors that say what to pass."""

import pytest

from devkit import Executor, ExecutorLoadError
from devkit.spec.executor_yaml import resolve_executor
from devkit.spec.loader import resolve_executor_class
from devkit.spec.models import ExecutorSpec


class SentenceEncoder(Executor):
    pass


def test_a_python_file_as_uses_says_to_pass_it_as_py_modules():
    with pytest.raises(ExecutorLoadError) as info:
        resolve_executor_class("executor.py")
    assert "uses='executor.py' is a Python file" in str(info.value)
    assert "--uses ClassName --py-modules executor.py" in str(info.value)


def test_a_misspelt_class_name_suggests_the_nearest_known_one():
    with pytest.raises(ExecutorLoadError, match="did you mean 'SentenceEncoder'"):
        resolve_executor_class("SentenceEncodr")


def test_a_package_next_to_the_yaml_is_found_by_its_dotted_name(tmp_path):
    package = tmp_path / "textkit_resolution"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "encoders.py").write_text("from devkit import Executor\n\nclass Upper(Executor):\n    pass\n")
    spec = ExecutorSpec(uses="textkit_resolution.encoders.Upper", extra_search_paths=[str(tmp_path)])
    resolved = resolve_executor(spec)
    assert resolved.cls.__name__ == "Upper"
    assert resolved.cls.__module__ == "textkit_resolution.encoders"
