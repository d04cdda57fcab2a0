"""The one rule for an edge of a Flow: can the consumer validate what the producer returns?

A producer may return more than the consumer reads (docarray drops fields the consumer's
schema does not declare, and so does devkit's decoder); it must provide every field the
consumer requires, in a type the consumer accepts. :func:`edge_problems` applies
:func:`~devkit.spec.schema_fit.compare_schemas` and is used by both ``check_flow`` (on the
Executor classes) and the gateway at start (:func:`schema_mismatches`, on the JSON schemas
Executors publish through endpoint discovery, turned back into classes with docarray's
``create_base_doc_from_schema`` as jina's gateway does). Only errors refuse a Flow, in both.

JSON schemas do not carry everything a class does (tensor frameworks, shapes and dtypes,
``Literal`` values come back as ``AnyTensor`` and ``str``), so the gateway may accept an
edge ``check_flow`` refuses, never the other way round.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from docarray import BaseDoc

from devkit.errors import ConfigError
from devkit.spec.schema_fit import UNTYPED_NAMES, FieldProblem, compare_schemas, is_untyped

__all__ = ["SchemaMismatchError", "edge_errors", "edge_problems", "published_doc_class", "schema_mismatches"]

log = logging.getLogger("devkit.schemas")


class SchemaMismatchError(ConfigError, TypeError):
    """The gateway found Executors of a Flow that do not fit together when it started."""

    def __str__(self) -> str:  # the fix is added here, not to args, so pickling round-trips
        return (
            f"{super().__str__()}; make each Executor return every field the next one requires "
            "(`devkit check flow.yml` or check_flow(flow) reports them all without starting anything)"
        )


def edge_problems(produced: type[BaseDoc] | None, expected: type[BaseDoc] | None) -> list[FieldProblem]:
    """Why documents of ``produced`` may not validate as ``expected``; untyped schemas fit anything."""
    if produced is None or expected is None or is_untyped(produced) or is_untyped(expected):
        return []
    return compare_schemas(produced, expected)


def edge_errors(produced: type[BaseDoc] | None, expected: type[BaseDoc] | None) -> list[FieldProblem]:
    """The problems of :func:`edge_problems` that refuse a Flow (warnings do not)."""
    return [problem for problem in edge_problems(produced, expected) if problem.severity == "error"]


_rebuilt: dict[str, type[BaseDoc] | None] = {}


def published_doc_class(published: Mapping[str, Any] | None) -> type[BaseDoc] | None:
    """The document class of a discovery entry ``{"name": ..., "model": <JSON schema>}``.

    ``None`` for untyped schemas and for JSON schemas docarray cannot turn into a class (the
    edge is then not checked). Rebuilt once per distinct schema.
    """
    if not published or not published.get("model") or published.get("name") in UNTYPED_NAMES:
        return None
    key = json.dumps(published, sort_keys=True)
    if key not in _rebuilt:
        from docarray.utils.create_dynamic_doc_class import create_base_doc_from_schema

        name = str(published.get("name") or "Document")
        try:
            _rebuilt[key] = create_base_doc_from_schema(dict(published["model"]), name, {})
        except Exception as exc:  # a schema docarray cannot rebuild is not checked, not fatal
            log.warning("schema %s cannot be checked (%r): its edges are not checked", name, exc)
            _rebuilt[key] = None
    return _rebuilt[key]


class _Node(Protocol):
    """What the gateway knows of an Executor (``NodeClient``): its spec and published schemas."""

    name: str
    spec: Any  # has ``needs``
    schemas: dict[str, Any]

    def schema_for(self, endpoint: str) -> dict[str, Any] | None: ...


def schema_mismatches(nodes: Mapping[str, _Node]) -> list[str]:
    """Edges where the downstream Executor cannot validate what the upstream one returns.

    Checked per endpoint either Executor serves, on the schemas they published.
    """
    problems: list[str] = []
    for node in nodes.values():
        for need in node.spec.needs:
            upstream = nodes.get(need)
            if upstream is None or not upstream.schemas or not node.schemas:
                continue
            for endpoint in sorted(set(upstream.schemas) | set(node.schemas)):
                out, into = upstream.schema_for(endpoint), node.schema_for(endpoint)
                if not out or not into:
                    continue
                produced, expected = published_doc_class(out["output"]), published_doc_class(into["input"])
                problems.extend(
                    f"on endpoint {endpoint!r}, {upstream.name!r} returns {out['output']['name']} "
                    f"but {node.name!r} expects {into['input']['name']}: field {problem.field!r}: "
                    f"{problem.reason}"
                    for problem in edge_errors(produced, expected)
                )
    return problems
