"""Python source for drawn values, so a shrunk failing run prints as a test one can paste.

``Code`` renders documents, DocLists, tensors and plain values as constructor calls
(``TextDoc(text='a')``, ``np.array([1.0], dtype='float32')``) and remembers which names
they need, so the printed test carries its imports.
"""

from __future__ import annotations

import ast
import enum
import inspect
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
from docarray import BaseDoc, DocList
from docarray.typing.tensor.abstract_tensor import AbstractTensor

__all__ = ["Code", "callable_source"]


class Code:
    """Renders values as source and collects the imports the source needs."""

    def __init__(self) -> None:
        self._imports: dict[str, set[str]] = {}
        self.numpy = False

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
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return "flow_factory  # the lambda's source was not found: put your Flow factory here"
    for candidate in (source, f"({source.strip()})", source.strip().rstrip(",").rstrip(")")):
        try:
            tree = ast.parse(candidate)
        except SyntaxError:
            continue
        lambdas = [node for node in ast.walk(tree) if isinstance(node, ast.Lambda)]
        if len(lambdas) == 1:
            segment = ast.get_source_segment(candidate, lambdas[0])
            if segment:
                return segment
    return "flow_factory  # the lambda's source was ambiguous: put your Flow factory here"
