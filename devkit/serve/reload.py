"""Hot reload (``reload=True``): rebuild a served Executor in place when its files change.

For development, as in jina. A watcher thread (watchfiles) follows every ``.py`` file in the
folder (and sub-folders) of the Executor's class and of its ``py_modules``, and its Executor
YAML. On a change it re-imports the changed modules, builds a new instance from the (re-read)
spec and hands it to the worker, which swaps it in: requests already running finish on the old
instance, which is closed once they have. If the new code fails to import or build, the error
is logged and the old instance keeps serving.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pathlib
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from types import ModuleType
from typing import Any

from devkit.executor.base import Executor
from devkit.logs import executor_logger
from devkit.serve.file_watch import watch_changes
from devkit.spec.executor_yaml import build_executor, is_yaml_source
from devkit.spec.loader import search_paths
from devkit.spec.models import ExecutorSpec

__all__ = ["Reloader", "watched_files"]


def _yaml_file(spec: ExecutorSpec) -> pathlib.Path | None:
    uses = spec.uses
    if not is_yaml_source(uses) or "jtype:" in str(uses):
        return None
    for folder in search_paths(spec.extra_search_paths):
        candidate = pathlib.Path(folder, uses)  # an absolute ``uses`` stays itself
        if candidate.is_file():
            return candidate.resolve()
    return None


def _source_folder(cls: type) -> pathlib.Path | None:
    try:
        source = inspect.getsourcefile(cls)
    except TypeError:  # a built-in or a class made at run time
        return None
    return pathlib.Path(source).resolve().parent if source else None


def watched_files(spec: ExecutorSpec, executor: Executor) -> tuple[set[pathlib.Path], pathlib.Path | None]:
    """The folders whose ``.py`` files are watched, and the Executor YAML file (if any)."""
    folders = {folder for folder in [_source_folder(type(executor))] if folder is not None}
    for module in spec.py_modules:
        if module.endswith(".py"):
            for base in ("", *spec.extra_search_paths):
                candidate = pathlib.Path(base, module)
                if candidate.is_file():
                    folders.add(candidate.resolve().parent)
                    break
    yaml_file = _yaml_file(spec)
    if yaml_file is not None:
        folders.add(yaml_file.parent)
    return folders, yaml_file


def _modules_of(paths: Iterable[pathlib.Path]) -> list[ModuleType]:
    wanted = {str(path) for path in paths}
    found = []
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and str(pathlib.Path(file).resolve()) in wanted:
            found.append(module)
    return found


def _current_class(cls: type) -> Any:
    """``cls`` as its (re-imported) module now defines it."""
    current: Any = sys.modules.get(cls.__module__)
    for part in cls.__qualname__.split("."):
        current = getattr(current, part, None)
    return current if isinstance(current, type) else cls


class Reloader:
    """Watches one Executor's files and calls ``swap(new_executor)`` on the worker's loop.

    ``start()`` returns once the files are being watched; ``stop()`` ends the thread.
    """

    def __init__(
        self,
        spec: ExecutorSpec,
        executor: Executor,
        runtime_args: dict[str, Any],
        swap: Callable[[Executor], Any],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._spec = spec
        self._class = type(executor)
        self._runtime_args = runtime_args
        self._swap = swap
        self._loop = loop
        self._name = str(runtime_args.get("name") or executor.metas.name)
        self._log = executor_logger(str(executor.metas.name))
        self._folders, self._yaml = watched_files(spec, executor)
        self._stop = threading.Event()
        self._watching = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"devkit-reload-{self._name}", daemon=True)

    @property
    def folders(self) -> set[pathlib.Path]:
        return self._folders

    def _wanted(self, _change: Any, path: str) -> bool:
        file = pathlib.Path(path)
        return file.suffix == ".py" or (self._yaml is not None and file == self._yaml)

    def start(self, timeout: float = 10.0) -> None:
        if not self._folders:
            self._log.warning("%s: reload=True but no source file to watch was found", self._name)
            return
        self._thread.start()
        if not self._watching.wait(timeout):
            raise RuntimeError(f"{self._name}: the reload watcher did not start within {timeout:g} s")
        self._log.debug("%s watching %s for changes", self._name, sorted(map(str, self._folders)))

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()

    def _main(self) -> None:
        changes_iter = watch_changes(
            sorted(self._folders), watch_filter=self._wanted, stop_event=self._stop, log=self._log
        )
        for changes in changes_iter:  # the first yield (changes or a quiet tick) means "watching"
            self._watching.set()
            if changes and not self._stop.is_set():
                self._reload(sorted({pathlib.Path(path).resolve() for path in changes}))
        self._watching.set()

    def _reload(self, changed: list[pathlib.Path]) -> None:
        if self._yaml is not None and self._yaml in changed:
            self._log.info(
                "change in Executor configuration YAML %s observed, restarting Executor %s",
                self._yaml,
                self._name,
            )
        else:
            self._log.info(
                "%s detected changes in: %s. Refreshing the Executor", self._name, [str(p) for p in changed]
            )
        try:
            executor = self._rebuild(changed)
        except Exception as exc:
            self._log.error(
                "%s: reloading failed, the previous version keeps serving: %s: %s",
                self._name,
                type(exc).__name__,
                exc,
            )
            return
        done: Future[Any] = asyncio.run_coroutine_threadsafe(self._swap(executor), self._loop)
        done.result()
        self._log.info("%s reloaded", self._name)

    def _rebuild(self, changed: list[pathlib.Path]) -> Executor:
        modules = _modules_of(path for path in changed if path.suffix == ".py")
        class_module = sys.modules.get(self._class.__module__)
        if class_module is not None and class_module not in modules and modules:
            modules.append(class_module)  # re-bind what it imported from the changed modules
        for module in modules:
            importlib.reload(module)
        spec = self._spec
        if isinstance(spec.uses, type):
            spec = spec.model_copy(update={"uses": _current_class(spec.uses)})
        executor = build_executor(spec, self._runtime_args)
        self._class = type(executor)
        return executor
