"""Per-schema decode plans: compiled once per receiving schema class, then reused.

Received values are validated with the receiver's schema through one cached
``TypeAdapter(list[Schema])`` per schema (one call per request, never one per document).
Before that, a plan only touches the fields where the wire alone is ambiguous: a nested
document inside ``Any`` (it becomes an ``AnyDoc``, as with ``DocListProto``), or a ``Union``
of several document classes (the sender's class name picks the member). Those nested
documents are validated with their own schema and handed over as instances, which pydantic
accepts as they are (``revalidate_instances='never'``, docarray's default): the same result
as validating their fields in place, without doing it twice. Every other field is left to the
receiver's validation, so what a plan does is exactly what the schema would have done.
"""

from __future__ import annotations

import collections.abc
import threading
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any

from docarray import BaseDoc, DocList
from docarray.base_doc import AnyDoc
from pydantic import TypeAdapter

from devkit.codec.kinds import WireDoc, WireDocList

__all__ = ["Plan", "plan_for"]

Converter = Callable[[Any], Any]

_plans: dict[type, Plan] = {}
_compiling: set[type] = set()
_lock = threading.RLock()


def plan_for(schema: type[Any]) -> Plan:
    """The plan of ``schema``, compiled on first use."""
    plan = _plans.get(schema)
    if plan is None:
        with _lock:
            plan = _plans.get(schema)
            if plan is None:
                _compiling.add(schema)
                try:
                    plan = Plan(schema)
                finally:
                    _compiling.discard(schema)
                _plans[schema] = plan
    return plan


class Plan:
    """How to turn received field maps into documents of one schema."""

    def __init__(self, schema: type[Any]) -> None:
        self.schema = schema
        self.fields = frozenset(schema.model_fields)
        self.converters: dict[str, Converter] = {}
        for name, field in schema.model_fields.items():
            convert = converter(field.annotation)
            if convert is not None:
                self.converters[name] = convert
        # Schemas that keep unknown fields (AnyDoc, extra='allow') get them as ``Any`` values.
        self.keeps_extra = issubclass(schema, AnyDoc) or schema.model_config.get("extra") == "allow"
        self._adapter: TypeAdapter[list[Any]] | None = None

    @property
    def trivial(self) -> bool:
        """Whether the schema's own validation is all this plan needs."""
        return not self.converters and not self.keeps_extra

    def prepare(self, row: dict[str, Any]) -> dict[str, Any]:
        for name, convert in self.converters.items():
            if name in row:
                row[name] = convert(row[name])
        if self.keeps_extra:
            for key, value in row.items():
                if key not in self.fields:
                    row[key] = deep_any(value)
        return row

    def one(self, row: dict[str, Any]) -> BaseDoc:
        return self.schema.model_validate(self.prepare(row) if not self.trivial else row)

    def doclist(self, doclist_type: type[DocList[Any]], rows: list[Any]) -> DocList[Any]:
        if not self.trivial:
            for row in rows:
                if isinstance(row, dict):  # anything else fails validation below, with its position
                    self.prepare(row)
        if self._adapter is None:
            self._adapter = TypeAdapter(list[self.schema])  # type: ignore[name-defined]
        # the adapter built validated ``schema`` instances: DocList's own re-check is skipped
        return doclist_type.construct(self._adapter.validate_python(rows))


def deep_any(value: Any) -> Any:
    """A value of an ``Any`` field: nested documents become ``AnyDoc`` / ``DocList[AnyDoc]``."""
    cls = type(value)
    if cls is WireDoc:
        return plan_for(AnyDoc).one(value)
    if cls is WireDocList:
        return DocList[AnyDoc].construct([plan_for(AnyDoc).one(row) for row in value])  # type: ignore[misc]
    if cls is list:
        return [deep_any(item) for item in value]
    if cls is dict:
        return {key: deep_any(item) for key, item in value.items()}
    if cls in (tuple, set, frozenset):
        return cls(deep_any(item) for item in value)
    return value


def _doclist_of(annotation: Any) -> type[BaseDoc] | None:
    candidate = typing.get_origin(annotation) or annotation
    if isinstance(candidate, type) and issubclass(candidate, DocList):
        doc_type = getattr(candidate, "doc_type", None)
        return doc_type if isinstance(doc_type, type) and issubclass(doc_type, BaseDoc) else AnyDoc
    return None


_SEQUENCES = {list, set, frozenset, collections.abc.Sequence, collections.abc.Set, collections.abc.Iterable}
_MAPPINGS = {dict, collections.abc.Mapping, collections.abc.MutableMapping}


def converter(annotation: Any) -> Converter | None:
    """What to do to a received value for a field declared ``annotation``; None: nothing."""
    if annotation is Any or annotation is object:
        return deep_any
    doc_type = _doclist_of(annotation)
    if doc_type is not None:
        return _documents(doc_type)
    if isinstance(annotation, type):
        if issubclass(annotation, BaseDoc):
            return _document(annotation)
        if annotation in (list, dict, tuple, set, frozenset):  # no parameters: items are Any
            return deep_any
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        return converter(args[0])
    if origin in (typing.Union, types.UnionType):
        return _union(args)
    if origin in _SEQUENCES or origin is tuple:
        return _items(origin, args)
    if origin in _MAPPINGS:
        values = converter(args[1]) if len(args) == 2 else deep_any
        if values is None:
            return None
        return lambda value: (
            {key: values(item) for key, item in value.items()} if isinstance(value, dict) else value
        )
    return None


def _document(doc_type: type[BaseDoc]) -> Converter | None:
    if doc_type not in _compiling and plan_for(doc_type).trivial:
        return None  # the receiver's validation turns the received fields into ``doc_type``
    return lambda value: plan_for(doc_type).one(value) if type(value) is WireDoc else value


def _documents(doc_type: type[BaseDoc]) -> Converter | None:
    if doc_type not in _compiling and plan_for(doc_type).trivial:
        return None

    def convert(value: Any) -> Any:
        if not isinstance(value, list):
            return value
        plan = plan_for(doc_type)
        return DocList[doc_type].construct(  # type: ignore[valid-type]
            [plan.one(row) if type(row) is WireDoc else row for row in value]
        )

    return convert


def _items(origin: Any, args: tuple[Any, ...]) -> Converter | None:
    if origin is tuple and args and args[-1] is not Ellipsis:  # tuple[X, Y]: one converter per position
        positional = [converter(arg) for arg in args]
        if not any(positional):
            return None
        return lambda value: (
            tuple(
                convert(item) if convert else item for convert, item in zip(positional, value, strict=False)
            )
            if isinstance(value, tuple | list)
            else value
        )
    item = converter(args[0]) if args else deep_any
    if item is None:
        return None
    return lambda value: (
        type(value)(item(x) for x in value) if type(value) in (list, tuple, set, frozenset) else value
    )


def _union(args: tuple[Any, ...]) -> Converter | None:
    members = [arg for arg in args if arg is not type(None)]
    documents = {m.__name__: m for m in members if isinstance(m, type) and issubclass(m, BaseDoc)}
    doclists = {d.__name__: d for m in members if (d := _doclist_of(m)) is not None}
    others = [(m, c) for m in members if (c := converter(m)) is not None and m not in documents.values()]
    if len(documents) <= 1 and len(doclists) <= 1:
        if len(members) == 1:
            return converter(members[0])
        if not others and not any(converter(m) for m in documents.values()):
            return None

    def convert(value: Any) -> Any:
        cls = type(value)
        if cls is WireDoc and documents:
            return _member(documents, value)
        if cls is WireDocList and doclists:
            doc_type = doclists.get(value.name) or next(iter(doclists.values()))
            plan = plan_for(doc_type)
            return DocList[doc_type].construct([plan.one(row) for row in value])  # type: ignore[valid-type]
        for member, convert_member in others:
            if _accepts(member, value):
                return convert_member(value)
        return value

    return convert


def _member(documents: dict[str, type[BaseDoc]], value: WireDoc) -> BaseDoc:
    """The Union member the sender named. A document relayed as ``AnyDoc`` lost its class name:
    then the first member that validates, trying first those whose fields are the ones received."""
    named = documents.get(value.name)
    if named is not None:
        return plan_for(named).one(value)
    keys = value.keys()
    ranked = sorted(
        documents.values(),
        key=lambda doc_type: (doc_type.model_fields.keys() != keys, not keys <= doc_type.model_fields.keys()),
    )
    error: Exception | None = None
    for doc_type in ranked:
        try:
            return plan_for(doc_type).one(WireDoc(value.name, value))
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            error = exc
    assert error is not None
    raise error


def _accepts(annotation: Any, value: Any) -> bool:
    """Whether ``value`` has the container shape ``annotation`` declares (to pick a Union member)."""
    if annotation is Any or annotation is object:
        return True
    origin = typing.get_origin(annotation) or annotation
    if origin in _MAPPINGS:
        return isinstance(value, dict)
    if origin is tuple:
        return isinstance(value, tuple)
    if origin in _SEQUENCES:
        return isinstance(value, list | set | frozenset)
    return False
