"""What a worker spec needs to run in a container: a spec for inside, the image and the mounts.

The rule for what can run in a container: the Executor must be importable by name there.
That is a class defined at a module's top level (its module's folder is mounted read-only at
the same path and put on ``PYTHONPATH``), a ``py_modules`` file, an Executor YAML file, or a
``docker://image`` that holds one. A class defined inside a function, or in ``__main__``,
has no name another process could import: devkit says so before starting anything.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit.errors import ConfigError
from devkit.spec.models import WorkerSpec

__all__ = ["CONTAINER_PORT", "DOCKER_SCHEME", "ENTRYPOINT", "Placement", "place"]

#: where a worker listens inside its container (the engine publishes it on the host)
CONTAINER_PORT = 8080
DOCKER_SCHEME = "docker://"
#: what every container runs (replacing an image's own entrypoint): serve one worker spec
ENTRYPOINT = ["python", "-m", "devkit", "worker"]


@dataclass(frozen=True)
class Placement:
    """How to run one worker in a container."""

    image: str
    command: list[str]  # the worker spec as JSON, after :data:`ENTRYPOINT`
    mounts: tuple[str, ...]  # host folders, mounted read-only at the same path
    pythonpath: tuple[str, ...]
    workdir: str | None


def _class_name(cls: type) -> tuple[str, str]:
    """``module.Class`` for an Executor class, and the folder its module is imported from."""
    qualname = cls.__qualname__
    module = sys.modules.get(cls.__module__)
    if "<locals>" in qualname or cls.__module__ == "__main__" or module is None:
        raise ConfigError(
            f"Executor class {qualname!r} cannot run in a container: it has no importable name "
            f"(defined inside a function or in __main__); move it to the top level of a module, "
            "or pass it as uses='module.Class' with py_modules"
        )
    file = getattr(module, "__file__", None)
    if file is None:
        raise ConfigError(f"Executor class {qualname!r}: its module {cls.__module__!r} has no file")
    root = Path(file).resolve().parent
    for _ in range(cls.__module__.count(".") + (1 if Path(file).name == "__init__.py" else 0)):
        root = root.parent
    return f"{cls.__module__}.{qualname}", str(root)


def _devkit_source() -> str:
    """The folder devkit is imported from (mounted, so a new commit needs no image rebuild)."""
    return str(Path(__file__).resolve().parents[2])


def place(spec: WorkerSpec, base_image: str) -> Placement:
    """The image, command and mounts that run ``spec`` in a container."""
    executor = spec.executor
    uses: Any = executor.uses
    if isinstance(uses, str) and os.path.isdir(uses):  # an Executor folder: built into an image
        from devkit.container.executor_image import build_executor_image

        uses = DOCKER_SCHEME + build_executor_image(uses, base_image)
    if isinstance(uses, str) and uses.startswith(DOCKER_SCHEME):
        # the image holds devkit and the Executor (config.yml in its working directory)
        inside = _inside(spec, executor.model_copy(update={"uses": "config.yml"}))
        return Placement(uses[len(DOCKER_SCHEME) :], _command(inside), (), (), None)
    roots: list[str] = []
    if isinstance(uses, type):
        uses, root = _class_name(uses)
        roots.append(root)
    elif isinstance(uses, str) and os.path.exists(uses):
        uses = os.path.abspath(uses)
    search = tuple(os.path.abspath(p) for p in (*executor.py_modules, *executor.extra_search_paths))
    update: dict[str, Any] = {"uses": uses}
    if executor.py_modules:
        update["py_modules"] = tuple(os.path.abspath(p) for p in executor.py_modules)
    if executor.extra_search_paths:
        update["extra_search_paths"] = tuple(os.path.abspath(p) for p in executor.extra_search_paths)
    inside = _inside(spec, executor.model_copy(update=update))
    workdir = os.getcwd() if os.getcwd() != "/" else None
    folders = [os.path.dirname(p) if os.path.isfile(p) else p for p in search]
    if isinstance(uses, str) and os.path.isabs(uses):
        folders.append(os.path.dirname(uses))
    pythonpath = [_devkit_source(), *roots, *([workdir] if workdir else [])]
    return Placement(
        image=base_image,
        command=_command(inside),
        mounts=_outermost([*pythonpath, *folders]),
        pythonpath=tuple(dict.fromkeys(pythonpath)),
        workdir=workdir,
    )


def _inside(spec: WorkerSpec, executor: Any) -> WorkerSpec:
    """The spec as the container sees it: every interface, on :data:`CONTAINER_PORT`."""
    return spec.model_copy(update={"host": "0.0.0.0", "port": CONTAINER_PORT, "executor": executor})


def _command(inside: WorkerSpec) -> list[str]:
    return [inside.model_dump_json()]


def _outermost(folders: list[str]) -> tuple[str, ...]:
    """The folders without those inside another (a mount covers its subfolders)."""
    unique = sorted(set(folders), key=len)
    kept: list[str] = []
    for folder in unique:
        if not any(folder == k or folder.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(folder)
    return tuple(kept)
