"""Turning `uses=` into an Executor class, importing `py_modules` on the way."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import pathlib
import sys
import threading
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from devkit.errors import ExecutorLoadError
from devkit.executor.base import Executor

__all__ = ["import_module", "import_py_modules", "resolve_executor_class", "search_paths"]


def _candidates(path: str, search: Iterable[str | os.PathLike[str]]) -> list[pathlib.Path]:
    given = pathlib.Path(path)
    if given.is_absolute():
        return [given]
    return [pathlib.Path(base) / given for base in search_paths(search)]


def search_paths(extra: Iterable[str | os.PathLike[str]] = ()) -> list[str]:
    """Where ``py_modules`` files and dotted ``uses``/``py_modules`` names are looked for, in order:
    the given folders (a YAML file's own folder first), then the working directory.

    Every command and runtime resolves Executors through this list, so ``devkit check`` finds
    what ``devkit flow`` serves from the same directory.
    """
    return list(dict.fromkeys([*(str(os.fspath(folder)) for folder in extra), os.getcwd()]))


def import_module(name: str, search: Iterable[str | os.PathLike[str]] = ()) -> ModuleType:
    """``importlib.import_module``, also finding top-level packages in ``search_paths(search)``."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        top = name.split(".", 1)[0]
        if exc.name != top:
            raise  # the module exists but something it imports is missing
        folders = [f for f in search_paths(search) if (pathlib.Path(f) / top).exists() or _is_file(f, top)]
        if not folders:
            raise
    with _IMPORT_LOCK:
        for folder in folders:
            if folder not in sys.path:
                sys.path.append(folder)  # inherited by child processes, as the working directory is
        importlib.invalidate_caches()
    return importlib.import_module(name)


def _is_file(folder: str, top: str) -> bool:
    return (pathlib.Path(folder) / f"{top}.py").is_file()


def import_py_modules(modules: Iterable[str], search: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Import each module, given as a file path (``executor.py``) or a dotted name."""
    search = list(search)
    for module in modules:
        if module.endswith(".py") or os.sep in module:
            for candidate in _candidates(module, search):
                if candidate.is_file():
                    _import_file(candidate)
                    break
            else:
                looked = ", ".join(str(c) for c in _candidates(module, search))
                raise ExecutorLoadError(f"py_modules entry {module!r} not found (looked at {looked})")
        else:
            try:
                import_module(module, search)
            except ImportError as exc:
                raise ExecutorLoadError(f"py_modules entry {module!r} cannot be imported: {exc}") from exc


#: Replicas on the thread runtime import the same py_modules at the same time; without this
#: lock one could find the other's half-executed module in sys.modules and use it.
_IMPORT_LOCK = threading.RLock()


def _import_file(path: pathlib.Path) -> ModuleType:
    with _IMPORT_LOCK:
        return _import_file_unlocked(path)


def _import_file_unlocked(path: pathlib.Path) -> ModuleType:
    path = path.resolve()
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # let the module import its siblings, as a script would
    module_name = path.stem if path.stem not in sys.modules else f"devkit_py_module_{abs(hash(path))}"
    existing = sys.modules.get(path.stem)
    if existing is not None and getattr(existing, "__file__", None) == str(path):
        return existing
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ExecutorLoadError(f"py_modules entry {str(path)!r} is not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise ExecutorLoadError(f"importing py_modules entry {str(path)!r} failed: {exc!r}") from exc
    return module


def resolve_executor_class(uses: Any, search: Iterable[str | os.PathLike[str]] = ()) -> type[Executor]:
    """The Executor class named by ``uses`` (a class, ``'pkg.mod.Class'`` or ``'Class'``);
    modules are looked for as :func:`search_paths` says."""
    if uses is None:
        return Executor
    if isinstance(uses, type):
        if not issubclass(uses, Executor):
            raise ExecutorLoadError(f"uses={uses!r} is not a subclass of devkit.Executor")
        return uses
    if not isinstance(uses, str):
        raise ExecutorLoadError(f"uses must be an Executor class or a string, got {type(uses).__name__}")
    if uses in Executor._registry:
        return Executor._registry[uses]
    if uses.endswith(".py"):
        raise ExecutorLoadError(
            f"uses={uses!r} is a Python file, but uses names an Executor class; pass the class name "
            f"and the file as py_modules: uses='ClassName', py_modules=[{uses!r}] "
            f"(`--uses ClassName --py-modules {uses}` on the command line)"
        )
    if "." in uses:
        module_name, _, class_name = uses.rpartition(".")
        try:
            module = import_module(module_name, search)
        except ImportError as exc:
            raise ExecutorLoadError(
                f"uses={uses!r}: module {module_name!r} cannot be imported: {exc}"
            ) from exc
        found = getattr(module, class_name, None)
        if isinstance(found, type) and issubclass(found, Executor):
            return found
        raise ExecutorLoadError(f"uses={uses!r}: module {module_name!r} has no Executor class {class_name!r}")
    known = ", ".join(sorted(Executor._registry)) or "none"
    near = difflib.get_close_matches(uses, [*Executor._registry, "Flow", "Deployment"], n=1)
    guess = f"did you mean {near[0]!r}? Otherwise " if near else ""
    raise ExecutorLoadError(
        f"uses={uses!r}: no Executor class of that name is imported (known: {known}); "
        f"{guess}add the file that defines it to py_modules, or pass 'module.ClassName'"
    )
