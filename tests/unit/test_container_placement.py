"""What can run in a container, and how a worker spec gets there (no Docker engine needed)."""

from __future__ import annotations

import json
import os

import pytest

from devkit import ConfigError, Executor
from devkit.container.placement import CONTAINER_PORT, place
from devkit.runtime import STARTERS, start
from devkit.runtime.default import RUNTIMES
from devkit.spec.models import RUNTIME_KINDS, ExecutorSpec, WorkerSpec


class TopLevel(Executor):
    """Importable by name: ``tests.unit.test_container_placement.TopLevel`` or its short module."""


def worker(uses, **executor) -> WorkerSpec:
    return WorkerSpec(name="encoder", executor=ExecutorSpec(uses=uses, **executor))


def inside(placement) -> WorkerSpec:
    assert len(placement.command) == 1, "the entrypoint serves one worker spec"
    return WorkerSpec.model_validate(json.loads(placement.command[0]))


def test_the_runtime_kinds_are_named_once_and_each_has_a_starter():
    assert RUNTIME_KINDS == ("thread", "process", "container")
    assert RUNTIMES == RUNTIME_KINDS
    assert tuple(STARTERS) == RUNTIME_KINDS


def test_an_unknown_runtime_names_the_choices():
    with pytest.raises(
        ValueError, match=r"runtime must be one of \['thread', 'process', 'container'\], got 'vm'"
    ):
        start("vm", "x", None, None)  # type: ignore[arg-type]


def test_a_top_level_class_runs_by_its_name_with_its_folder_mounted_read_only():
    placement = place(worker(TopLevel), "devkit-base:test")
    spec = inside(placement)
    module_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert spec.executor.uses == f"{TopLevel.__module__}.TopLevel"
    assert (spec.host, spec.port) == ("0.0.0.0", CONTAINER_PORT)
    assert placement.image == "devkit-base:test"
    root = next(
        path for path in placement.pythonpath if module_root.startswith(path) or path.startswith(module_root)
    )
    assert any(root == mount or root.startswith(mount + "/") for mount in placement.mounts)


def test_a_class_defined_in_a_function_is_refused_with_the_fix():
    class Local(Executor):
        pass

    with pytest.raises(ConfigError, match=r"cannot run in a container.*move it to the top level of a module"):
        place(worker(Local), "devkit-base:test")


def test_py_modules_and_yaml_paths_become_absolute_and_their_folders_are_mounted(tmp_path):
    module = tmp_path / "placed_executor.py"
    module.write_text("from devkit import Executor\nclass Mine(Executor):\n    pass\n")
    placement = place(worker("Mine", py_modules=[str(module)]), "devkit-base:test")
    assert inside(placement).executor.py_modules == (str(module),)
    assert str(tmp_path) in placement.mounts


def test_a_docker_image_runs_its_own_executor_with_nothing_mounted():
    placement = place(worker("docker://devkit-executor-shout:abc"), "devkit-base:test")
    assert placement.image == "devkit-executor-shout:abc"
    assert inside(placement).executor.uses == "config.yml"
    assert placement.mounts == () and placement.pythonpath == ()


def test_a_docker_image_needs_the_container_runtime():
    from devkit import Deployment

    with pytest.raises(
        ConfigError, match=r"an image, which runs only in a container.*pass runtime='container'"
    ):
        Deployment(uses="docker://devkit-executor-shout:abc", runtime="thread").start()
