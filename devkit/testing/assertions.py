"""Comparing documents in tests, with failures that say which document and field differ."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from docarray import BaseDoc

__all__ = ["assert_docs_equal", "describe_differences"]

_SHOWN = 8  # differences listed before the rest are counted


def _fields(doc: BaseDoc) -> dict[str, Any]:
    """A document's fields as plain values (tensors as lists, so they compare and print)."""
    values = {}
    for name, value in doc.__dict__.items():
        if name.startswith("_"):
            continue
        values[name] = value.tolist() if hasattr(value, "tolist") else value
    return values


def describe_differences(
    actual: Sequence[BaseDoc], expected: Sequence[BaseDoc], *, ignore: Sequence[str] = ("id",)
) -> list[str]:
    """Lines naming each document and field where ``actual`` differs from ``expected``.

    Documents are paired by position. Fields in ``ignore`` (by default ``id``) are skipped;
    pass ``ignore=()`` to compare ids too. An empty list means the documents are equal.
    """
    lines: list[str] = []
    if len(actual) != len(expected):
        lines.append(f"got {len(actual)} documents, expected {len(expected)}")
    for index, (got, wanted) in enumerate(zip(actual, expected, strict=False)):
        got_fields, wanted_fields = _fields(got), _fields(wanted)
        for name in sorted(set(got_fields) | set(wanted_fields)):
            if name in ignore:
                continue
            if name not in got_fields:
                lines.append(
                    f"document {index} (id {got.id}): field {name!r} is missing, expected {wanted_fields[name]!r}"
                )
            elif name not in wanted_fields:
                lines.append(
                    f"document {index} (id {got.id}): unexpected field {name!r} = {got_fields[name]!r}"
                )
            elif got_fields[name] != wanted_fields[name]:
                lines.append(
                    f"document {index} (id {got.id}): field {name!r} is {got_fields[name]!r}, "
                    f"expected {wanted_fields[name]!r}"
                )
    if len(lines) > _SHOWN:
        lines = [*lines[:_SHOWN], f"... and {len(lines) - _SHOWN} more differences"]
    return lines


def assert_docs_equal(
    actual: Sequence[BaseDoc], expected: Sequence[BaseDoc], *, ignore: Sequence[str] = ("id",)
) -> None:
    """Fail with one line per differing document field (ids ignored unless ``ignore=()``)."""
    __tracebackhide__ = True
    lines = describe_differences(actual, expected, ignore=ignore)
    if lines:
        raise AssertionError("documents differ:\n  " + "\n  ".join(lines))
