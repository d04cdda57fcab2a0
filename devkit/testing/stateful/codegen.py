"""Python source for drawn values, so a shrunk failing run prints as a test one can paste.

``Code`` renders documents, DocLists, tensors and plain values as constructor calls
(``TextDoc(text='a')``, ``np.array([1.0], dtype='float32')``) and remembers which names
they need, so the printed test carries its imports.
"""

from __future__ import annotations

import ast
import enum
import inspect
import linecache
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from docarray import BaseDoc, DocList
from docarray.typing.tensor.abstract_tensor import AbstractTensor

__all__ = ["Code", "callable_source", "closure_assignments"]


class Code:
    """Renders values as source and collects the imports the source needs."""

    def __init__(self) -> None:
        self._imports: dict[str, set[str]] = {}
        self.numpy = False
        #: comments for the reader of the printed source (what could not be rendered)
        self.notes: list[str] = []

    def need(self, obj: Any, module: str | None = None) -> str:
        """The name ``obj`` (a class or function) goes by; imported (from ``module``, default its
        own) when that module is importable."""
        name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
        if "<locals>" in name:  # defined in a function: the pasted test sits next to it
            return str(getattr(obj, "__name__", name))
        module = module or getattr(obj, "__module__", None)
        if module and module != "__main__" and module in sys.modules:
            self._imports.setdefault(module, set()).add(name.split(".")[0])
        return name

    def imports(self) -> list[str]:
        lines = ["import numpy as np"] if self.numpy else []
        lines += [
            f"from {module} import {', '.join(sorted(names))}"
            for module, names in sorted(self._imports.items())
        ]
        return lines

    def value(self, value: Any) -> str:
        if isinstance(value, BaseDoc):
            return self.doc(value)
        if isinstance(value, DocList):
            item = self.need(value.doc_type)
            self.need(DocList)
            return f"DocList[{item}]([{', '.join(self.doc(d) for d in value)}])"
        if isinstance(value, (AbstractTensor, np.ndarray)):
            array = np.asarray(value)
            self.numpy = True
            return f"np.array({array.tolist()!r}, dtype={str(array.dtype)!r})"
        if isinstance(value, enum.Enum):
            return f"{self.need(type(value))}.{value.name}"
        if isinstance(value, list):
            return f"[{', '.join(self.value(v) for v in value)}]"
        if isinstance(value, tuple):
            inner = ", ".join(self.value(v) for v in value)
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        if isinstance(value, (set, frozenset)):
            inner = ", ".join(sorted(self.value(v) for v in value))
            return f"{type(value).__name__}([{inner}])"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{self.value(k)}: {self.value(v)}" for k, v in value.items()) + "}"
        return repr(value)

    def doc(self, doc: BaseDoc, *, with_id: bool = False) -> str:
        """``Cls(field=value, ...)`` with the fields that differ from their defaults."""
        cls = type(doc)
        parts: list[str] = []
        for name, field in cls.model_fields.items():
            if name == "id" and not with_id:
                continue
            value = getattr(doc, name)
            if name != "id" and not field.is_required() and _same(value, _default(field)):
                continue
            parts.append(f"{name}={self.value(value)}")
        return f"{self.need(cls)}({', '.join(parts)})"


def _default(field: Any) -> Any:
    try:
        return field.get_default(call_default_factory=True)
    except Exception:  # a factory that needs arguments: always print the value
        return object()


def _same(value: Any, default: Any) -> bool:
    if isinstance(value, (AbstractTensor, np.ndarray)) or isinstance(default, (AbstractTensor, np.ndarray)):
        return False
    try:
        return bool(value == default) and type(value) is type(default)
    except Exception:
        return False


def callable_source(func: Callable[..., Any], code: Code) -> str:
    """Source that evaluates to ``func``: its name (imported), or the text of a lambda."""
    if getattr(func, "__name__", "") != "<lambda>":
        return code.need(func)
    segment = _lambda_text(func)
    if segment is None:
        code.notes.append("the Flow factory is a lambda whose source was not found: define flow_factory")
        return "flow_factory"
    return segment


def _lambda_text(func: Callable[..., Any]) -> str | None:
    """The text of a lambda, found in its file's syntax tree by line and column."""
    try:
        filename = inspect.getsourcefile(func)
        source = "".join(linecache.getlines(filename)) if filename else ""
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, ValueError):
        return None
    code = func.__code__
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda) and n.lineno == code.co_firstlineno]
    if len(found) > 1:  # several on the line: the one whose body starts where the code does
        starts = {
            (line, col) for line, _, col, _ in code.co_positions() if line is not None and col is not None
        }
        found = [n for n in found if (n.body.lineno, n.body.col_offset) in starts]
    if len(found) != 1:
        return None
    return ast.get_source_segment(source, found[0])  # several lines stay so: it is printed inside parentheses


_LITERALS = (str, int, float, bool, bytes, type(None))


def closure_assignments(func: Callable[..., Any], code: Code) -> list[str]:
    """``name = value`` lines for the variables a lambda factory reads from its enclosing function."""
    names = getattr(getattr(func, "__code__", None), "co_freevars", ())
    cells = getattr(func, "__closure__", None) or ()
    lines: list[str] = []
    for name, cell in zip(names, cells, strict=False):
        try:
            value = cell.cell_contents
        except ValueError:  # not assigned yet
            continue
        if isinstance(value, _LITERALS):
            lines.append(f"{name} = {value!r}")
        elif isinstance(value, type) or inspect.isfunction(value):
            lines.append(f"{name} = {code.need(value)}")
        else:
            code.notes.append(f"the Flow factory reads {name!r} from its enclosing function: define it")
    return lines
