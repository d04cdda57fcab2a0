"""The documents a load run sends: drawn from the endpoint's request schema, or read from a file.

Payloads are prepared before the run (``LoadSpec.pool`` distinct requests, sent in turn),
so drawing documents never competes with sending them.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence
from typing import Any

from docarray import BaseDoc, DocList
from docarray.base_doc import AnyDoc
from docarray.documents import TextDoc
from pydantic import TypeAdapter, ValidationError

from devkit.spec.schema_fit import is_untyped

__all__ = ["draw_payloads", "file_payloads", "plain_payloads"]


def plain_payloads(count: int, size: int) -> list[DocList[Any]]:
    """For an endpoint that declares no schema: text documents numbered ``load-<i>-<j>``."""
    return [DocList[TextDoc](TextDoc(text=f"load-{i}-{j}") for j in range(size)) for i in range(count)]


def draw_payloads(schema: type[BaseDoc] | None, count: int, size: int, seed: int) -> list[DocList[Any]]:
    """``count`` requests of ``size`` valid ``schema`` documents, drawn with Hypothesis
    (``devkit.testing.strategies``), reproducibly for one ``seed``."""
    if schema is None or is_untyped(schema):
        return plain_payloads(count, size)
    try:
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import seed as fixed_seed

        from devkit.testing.strategies import doclists
    except ImportError as exc:
        raise ImportError(
            f"drawing {schema.__name__} documents needs Hypothesis ({exc}); install the testing extra "
            "(pip install 'devkit[testing]') or pass documents from a file (--docs FILE)"
        ) from exc
    drawn: list[DocList[Any]] = []

    @fixed_seed(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(doclists(schema, min_size=size, max_size=size))
    def collect(docs: DocList[Any]) -> None:
        drawn.append(docs)

    collect()
    carried = [docs for docs in drawn if _encodable(docs)]
    if drawn and not carried:
        raise ValueError(
            f"none of the {len(drawn)} drawn {schema.__name__} requests can be encoded for the wire "
            "(docarray's protobuf carries 32-bit integers only); pass documents from a file (--docs FILE)"
        )
    return carried or plain_payloads(count, size)


def _encodable(docs: DocList[Any]) -> bool:
    """Whether docarray's protobuf (what jina peers and every protocol but devkit-to-devkit
    gRPC use) carries these documents: Hypothesis draws integers beyond its int32 field."""
    try:
        docs.to_protobuf()
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def _records(path: pathlib.Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError:  # JSON lines: one document per line
        try:
            loaded = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{path}: expected a JSON array of documents or one JSON document per line ({exc})"
            ) from None
    if isinstance(loaded, dict):
        loaded = loaded.get("data", [loaded])
    if not isinstance(loaded, list) or not all(isinstance(item, dict) for item in loaded):
        raise ValueError(f"{path}: expected a JSON array of documents (objects), got {type(loaded).__name__}")
    if not loaded:
        raise ValueError(f"{path}: holds no documents; put at least one JSON object in it")
    return loaded


def file_payloads(path: str, schema: type[BaseDoc] | None, size: int) -> list[DocList[Any]]:
    """The file's documents, validated against ``schema``, cut into requests of ``size``
    (wrapping around, so every request is full)."""
    records = _records(pathlib.Path(path))
    typed = schema if schema is not None and not is_untyped(schema) else None
    if typed is None:
        docs: Sequence[Any] = [AnyDoc(**record) for record in records]
        doclist: type[DocList[Any]] = DocList[AnyDoc]
    else:
        try:
            docs = TypeAdapter(list[typed]).validate_python(records)  # type: ignore[valid-type]
        except ValidationError as exc:
            raise ValueError(
                f"{path}: the documents do not fit the endpoint's request schema {typed.__name__}: {exc}"
            ) from None
        doclist = DocList[typed]  # type: ignore[valid-type]
    count = max(1, len(docs) // size)
    return [doclist([docs[(i * size + j) % len(docs)] for j in range(size)]) for i in range(count)]
