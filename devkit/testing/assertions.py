"""Comparing documents in tests, with failures that say which document and field differ."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from docarray import BaseDoc

__all__ = ["Tolerance", "assert_docs_equal", "describe_differences", "describe_value_differences"]

_SHOWN = 8  # differences listed before the rest are counted


@dataclass(frozen=True)
class Tolerance:
    """How close numbers must be to count as equal (``math.isclose``), and which fields not to
    compare at all: a plain name (``"id"``) at any depth, a dotted path (``"tags.when"``) exactly."""

    abs_tol: float = 0.0
    rel_tol: float = 0.0
    ignore: tuple[str, ...] = ("id",)

    def skips(self, path: str) -> bool:
        return path in self.ignore or path.rsplit(".", 1)[-1] in self.ignore


def _fields(doc: BaseDoc) -> dict[str, Any]:
    """A document's set fields (None counts as unset: one side may omit what the other sends as null)."""
    return {
        name: value for name, value in doc.__dict__.items() if not name.startswith("_") and value is not None
    }


def _shown(value: Any) -> Any:
    """A value as it prints in a difference: tensors as lists."""
    if isinstance(value, BaseDoc):
        return {name: _shown(v) for name, v in _fields(value).items()}
    return value.tolist() if hasattr(value, "tolist") else value


def _is_array(value: Any) -> bool:
    return hasattr(value, "dtype") and hasattr(value, "shape") and hasattr(value, "tolist")


def _numbers_close(got: Any, wanted: Any, tolerance: Tolerance) -> bool:
    if isinstance(got, bool) or isinstance(wanted, bool):
        return bool(got == wanted)
    if isinstance(got, float) and isinstance(wanted, float) and math.isnan(got) and math.isnan(wanted):
        return True
    if got == wanted:
        return True
    return math.isclose(got, wanted, rel_tol=tolerance.rel_tol, abs_tol=tolerance.abs_tol)


def _arrays_close(got: Any, wanted: Any, tolerance: Tolerance) -> bool:
    """Arrays (or a list against an array, as JSON carries it) read in the expected dtype."""
    reference = wanted if _is_array(wanted) else got
    dtype = np.asarray(reference).dtype
    try:
        left, right = np.asarray(got, dtype=dtype), np.asarray(wanted, dtype=dtype)
    except (TypeError, ValueError):
        return False
    if left.shape != right.shape:
        return False
    if dtype.kind not in "fc":
        return bool(np.array_equal(left, right))
    return bool(np.allclose(left, right, rtol=tolerance.rel_tol, atol=tolerance.abs_tol, equal_nan=True))


def _compare(got: Any, wanted: Any, path: str, tolerance: Tolerance, out: list[tuple[str, str]]) -> None:
    """Append ``(path, what differs)`` for each difference below ``path``."""
    if _is_array(got) or _is_array(wanted):
        if not _arrays_close(got, wanted, tolerance):
            out.append((path, f"is {_shown(got)!r}, expected {_shown(wanted)!r}"))
        return
    if isinstance(got, BaseDoc) and isinstance(wanted, BaseDoc):
        _compare_mappings(_fields(got), _fields(wanted), path, tolerance, out)
        return
    if isinstance(got, Mapping) and isinstance(wanted, Mapping):
        _compare_mappings(got, wanted, path, tolerance, out)
        return
    if isinstance(got, (list, tuple)) and isinstance(wanted, (list, tuple)):
        if len(got) != len(wanted):
            out.append((path, f"has {len(got)} items, expected {len(wanted)}: {_shown(got)!r}"))
            return
        for index, (item, expected) in enumerate(zip(got, wanted, strict=True)):
            _compare(item, expected, f"{path}[{index}]", tolerance, out)
        return
    numbers = (int, float, np.integer, np.floating)
    if isinstance(got, numbers) and isinstance(wanted, numbers):
        if not _numbers_close(float(got), float(wanted), tolerance):
            out.append((path, f"is {_shown(got)!r}, expected {_shown(wanted)!r}"))
        return
    if got != wanted:
        out.append((path, f"is {_shown(got)!r}, expected {_shown(wanted)!r}"))


def _compare_mappings(
    got: Mapping[str, Any],
    wanted: Mapping[str, Any],
    prefix: str,
    tolerance: Tolerance,
    out: list[tuple[str, str]],
) -> None:
    for name in sorted(set(got) | set(wanted), key=str):
        path = f"{prefix}.{name}" if prefix else str(name)
        if tolerance.skips(path):
            continue
        if got.get(name) is None and wanted.get(name) is not None:
            out.append((path, f"is missing, expected {_shown(wanted[name])!r}"))
        elif wanted.get(name) is None and got.get(name) is not None:
            out.append((path, f"is unexpected: {_shown(got[name])!r}"))
        elif name in got and name in wanted:
            _compare(got[name], wanted[name], path, tolerance, out)


def describe_value_differences(
    actual: Mapping[str, Any], expected: Mapping[str, Any], tolerance: Tolerance = Tolerance(ignore=())
) -> list[tuple[str, str]]:
    """``(path, what differs)`` between two plain mappings (parameters, say), with ``tolerance``."""
    out: list[tuple[str, str]] = []
    _compare_mappings(actual, expected, "", tolerance, out)
    return out


def describe_differences(
    actual: Sequence[BaseDoc],
    expected: Sequence[BaseDoc],
    *,
    ignore: Sequence[str] = ("id",),
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
    limit: int | None = _SHOWN,
) -> list[str]:
    """Lines naming each document and field where ``actual`` differs from ``expected``.

    Documents are paired by position. Fields in ``ignore`` (by default ``id``; a plain name
    at any depth, a dotted path such as ``tags.created`` exactly) are skipped; pass
    ``ignore=()`` to compare ids too. Numbers (and float tensors) compare with ``math.isclose``
    and ``abs_tol``/``rel_tol``; a list compares with a tensor in the tensor's dtype. Nested
    documents and dicts are compared field by field. An empty list means the documents are equal.
    """
    tolerance = Tolerance(abs_tol=abs_tol, rel_tol=rel_tol, ignore=tuple(ignore))
    lines: list[str] = []
    if len(actual) != len(expected):
        lines.append(f"got {len(actual)} documents, expected {len(expected)}")
    for index, (got, wanted) in enumerate(zip(actual, expected, strict=False)):
        found: list[tuple[str, str]] = []
        _compare_mappings(_fields(got), _fields(wanted), "", tolerance, found)
        for path, what in found:
            if what.startswith("is unexpected: "):
                lines.append(f"document {index} (id {got.id}): unexpected field {path!r} = {what[15:]}")
            else:
                lines.append(f"document {index} (id {got.id}): field {path!r} {what}")
    if limit is not None and len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more differences"]
    return lines


def assert_docs_equal(
    actual: Sequence[BaseDoc],
    expected: Sequence[BaseDoc],
    *,
    ignore: Sequence[str] = ("id",),
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
) -> None:
    """Fail with one line per differing document field (ids ignored unless ``ignore=()``)."""
    __tracebackhide__ = True
    lines = describe_differences(actual, expected, ignore=ignore, abs_tol=abs_tol, rel_tol=rel_tol)
    if lines:
        raise AssertionError("documents differ:\n  " + "\n  ".join(lines))
