"""Comparing two document schemas field by field: can what one Executor returns feed the next?

:func:`compare_schemas` walks the fields the consumer declares and reports, per field path,
why the producer's documents may not validate there: a required field the producer lacks,
a value the producer may leave ``None``, a different type, nested documents that differ, or
tensors of another framework, shape or dtype. Tensor dtypes are declared with
``Annotated[NdArray[3], TensorDtype("float32")]``; docarray's annotations carry only shapes.
"""

from __future__ import annotations

import enum
import functools
import operator
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from docarray import BaseDoc, DocList
from docarray.base_doc import AnyDoc
from docarray.typing.tensor.abstract_tensor import AbstractTensor
from pydantic.fields import FieldInfo

__all__ = [
    "UNTYPED_NAMES",
    "FieldProblem",
    "Severity",
    "TensorDtype",
    "TypeInfo",
    "compare_schemas",
    "doclist_item",
    "dtype_problems",
    "field_path_exists",
    "is_untyped",
    "type_info",
]

Severity = Literal["error", "warning"]

_MAX_DEPTH = 8

#: Schemas that promise nothing, by the name an Executor publishes them under.
UNTYPED_NAMES = ("AnyDoc", "UntypedDoc", "LegacyDocument")


@dataclass(frozen=True)
class TensorDtype:
    """Declares the dtype of a tensor field: ``Annotated[NdArray[128], TensorDtype("float32")]``.

    A declaration only: pydantic does not enforce it (a validator here would make docarray's
    ``json_encoders`` emit a deprecation warning for every such field). Contract checks compare
    declared dtypes, and :func:`dtype_problems` checks documents, as ``fuzz_endpoint`` does.
    """

    dtype: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", str(np.dtype(self.dtype)))

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not have the declared dtype, or None."""
        dtype = getattr(value, "dtype", None)
        if dtype is not None and str(dtype) != self.dtype:
            return f"expected a tensor of dtype {self.dtype}, got {dtype}"
        return None


def dtype_problems(doc: BaseDoc) -> list[str]:
    """Top-level tensor fields of ``doc`` whose dtype differs from their :class:`TensorDtype`."""
    problems = []
    for name, info in type(doc).model_fields.items():
        marker = next((m for m in info.metadata if isinstance(m, TensorDtype)), None)
        value = getattr(doc, name, None)
        problem = marker.problem(value) if marker is not None and value is not None else None
        if problem:
            problems.append(f"{name}: {problem}")
    return problems


@dataclass(frozen=True)
class FieldProblem:
    """Why one field of the consumer's schema may not accept the producer's value."""

    field: str
    reason: str
    kind: str
    severity: Severity = "error"


@dataclass(frozen=True)
class TypeInfo:
    """An annotation taken apart: the bare type, whether ``None`` is allowed, and markers."""

    base: Any
    nullable: bool
    dtype: str | None


def type_info(annotation: Any, metadata: typing.Sequence[Any] = ()) -> TypeInfo:
    nullable = False
    dtype = next((m.dtype for m in metadata if isinstance(m, TensorDtype)), None)
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            args = typing.get_args(annotation)
            dtype = next((m.dtype for m in args[1:] if isinstance(m, TensorDtype)), dtype)
            annotation = args[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(members) < len(typing.get_args(annotation)):
                nullable = True
                annotation = members[0] if len(members) == 1 else functools.reduce(operator.or_, members)
                continue
        return TypeInfo(annotation, nullable, dtype)


def is_untyped(schema: type[BaseDoc] | None) -> bool:
    """True for schemas that promise nothing (no schema, ``AnyDoc``, a legacy document)."""
    return schema is None or issubclass(schema, AnyDoc) or schema.__name__ in UNTYPED_NAMES


def _is_doc(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseDoc)


def doclist_item(value: Any) -> Any:
    """``X`` of ``DocList[X]``, which may be a class or a typing alias (in field annotations)."""
    if isinstance(value, type) and issubclass(value, DocList):
        return getattr(value, "doc_type", None)
    origin = typing.get_origin(value)
    if isinstance(origin, type) and issubclass(origin, DocList):
        args = typing.get_args(value)
        return args[0] if args else None
    return None


def _is_tensor(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, AbstractTensor)


def _tensor_framework(value: type) -> str:
    """``NdArray``, ``TorchTensor``...: the docarray class a parametrised tensor derives from."""
    for klass in value.__mro__:
        if klass.__module__.startswith("docarray.typing.tensor") and "[" not in klass.__name__:
            if klass.__name__ in ("AnyTensor", "AbstractTensor"):
                return "AnyTensor"
            return klass.__name__
    return value.__name__


def _shape(value: type) -> tuple[Any, ...] | None:
    shape = getattr(value, "__docarray_target_shape__", None)
    return tuple(shape) if shape is not None else None


def _describe(value: Any) -> str:
    if isinstance(value, type):
        item = doclist_item(value)
        return f"DocList[{item.__name__}]" if item is not None else value.__name__
    return repr(value).replace("typing.", "")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def compare_schemas(
    produced: type[BaseDoc], expected: type[BaseDoc], path: str = "", depth: int = 0
) -> list[FieldProblem]:
    """Every field of ``expected`` that documents of ``produced`` may fail to fill."""
    if is_untyped(produced) or is_untyped(expected) or depth > _MAX_DEPTH:
        return []
    problems: list[FieldProblem] = []
    offered = produced.model_fields
    for name, wanted in expected.model_fields.items():
        if name == "id":
            continue
        where = _join(path, name)
        given = offered.get(name)
        if given is None:
            if wanted.is_required():
                problems.append(
                    FieldProblem(
                        where,
                        f"{expected.__name__} requires {name!r} but {produced.__name__} has no such field",
                        "missing-field",
                    )
                )
            continue
        problems.extend(_compare_fields(given, wanted, where, depth))
    return problems


def _compare_fields(given: FieldInfo, wanted: FieldInfo, where: str, depth: int) -> list[FieldProblem]:
    have = type_info(given.annotation, given.metadata)
    want = type_info(wanted.annotation, wanted.metadata)
    problems: list[FieldProblem] = []
    if have.nullable and not want.nullable:
        problems.append(
            FieldProblem(
                where, "optional upstream (may be None) but required to be set downstream", "optional"
            )
        )
    problems.extend(_compare_types(have, want, where, depth))
    return problems


def _compare_types(have: TypeInfo, want: TypeInfo, where: str, depth: int) -> list[FieldProblem]:
    produced, expected = have.base, want.base
    if expected is Any or expected is object or (produced == expected and have.dtype == want.dtype):
        return []
    if _is_doc(produced) and _is_doc(expected):
        return compare_schemas(produced, expected, where, depth + 1)
    produced_item, expected_item = doclist_item(produced), doclist_item(expected)
    if produced_item is not None and expected_item is not None:
        return compare_schemas(produced_item, expected_item, f"{where}[]", depth + 1)
    if _is_tensor(produced) and _is_tensor(expected):
        return _compare_tensors(produced, expected, have.dtype, want.dtype, where)
    if produced is Any:
        return [
            FieldProblem(
                where, f"untyped upstream (Any) but {_describe(expected)} downstream", "type", "warning"
            )
        ]
    container = _compare_containers(produced, expected, where, depth)
    if container is not None:
        return container
    if _scalar_fits(produced, expected):
        return []
    return [
        FieldProblem(
            where,
            f"upstream produces {_describe(produced)}, downstream expects {_describe(expected)}",
            "type",
        )
    ]


def _compare_containers(produced: Any, expected: Any, where: str, depth: int) -> list[FieldProblem] | None:
    """Lists, tuples, sets and dicts compared by their items; None when these are not containers."""
    p_origin, e_origin = typing.get_origin(produced) or produced, typing.get_origin(expected) or expected
    sequences = (list, tuple, set, frozenset, typing.Sequence, typing.AbstractSet)
    mappings = (dict, typing.Mapping)
    if (p_origin in sequences and e_origin in sequences) or (p_origin in mappings and e_origin in mappings):
        p_args, e_args = typing.get_args(produced), typing.get_args(expected)
        if not p_args or not e_args:
            return []
        p_item, e_item = p_args[-1], e_args[-1]
        if p_item is Ellipsis or e_item is Ellipsis:
            p_item, e_item = p_args[0], e_args[0]
        suffix = "[]" if p_origin in sequences else "{}"
        return _compare_types(type_info(p_item), type_info(e_item), f"{where}{suffix}", depth)
    if typing.get_origin(expected) in (typing.Union, types.UnionType):
        options = typing.get_args(expected)
        members = (
            typing.get_args(produced)
            if typing.get_origin(produced) in (typing.Union, types.UnionType)
            else (produced,)
        )
        unfit = [
            m
            for m in members
            if not any(
                not _compare_types(TypeInfo(m, False, None), TypeInfo(o, False, None), where, depth)
                for o in options
            )
        ]
        if unfit:
            return [
                FieldProblem(
                    where,
                    f"upstream may produce {', '.join(map(_describe, unfit))}, "
                    f"downstream expects {_describe(expected)}",
                    "type",
                )
            ]
        return []
    if typing.get_origin(expected) is Literal:
        allowed = set(typing.get_args(expected))
        values = set(typing.get_args(produced)) if typing.get_origin(produced) is Literal else None
        if values is not None and values <= allowed:
            return []
        return [
            FieldProblem(
                where,
                f"upstream produces {_describe(produced)}, downstream allows only "
                f"{sorted(map(repr, allowed))}",
                "type",
            )
        ]
    return None


def _scalar_fits(produced: Any, expected: Any) -> bool:
    if not isinstance(produced, type) or not isinstance(expected, type):
        return False
    if produced is bool and expected is not bool:
        return False  # a bool reaching an int or float field is almost always a mistake
    if produced is int and expected is float:
        return True  # pydantic accepts ints for floats without loss of meaning
    if isinstance(produced, enum.EnumMeta) and expected is str:
        return issubclass(produced, str)
    return issubclass(produced, expected)


def _compare_tensors(
    produced: type, expected: type, have_dtype: str | None, want_dtype: str | None, where: str
) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    have_kind, want_kind = _tensor_framework(produced), _tensor_framework(expected)
    if want_kind != "AnyTensor" and have_kind not in (want_kind, "AnyTensor"):
        problems.append(
            FieldProblem(
                where, f"upstream produces a {have_kind}, downstream expects a {want_kind}", "tensor-type"
            )
        )
    elif want_kind != "AnyTensor" and have_kind == "AnyTensor":
        problems.append(
            FieldProblem(
                where,
                f"upstream may produce any tensor type, downstream expects a {want_kind}",
                "tensor-type",
                "warning",
            )
        )
    have_shape, want_shape = _shape(produced), _shape(expected)
    if want_shape is not None:
        if have_shape is None:
            problems.append(
                FieldProblem(
                    where,
                    f"upstream does not declare a shape, downstream expects shape {want_shape}",
                    "shape",
                    "warning",
                )
            )
        elif not _shapes_fit(have_shape, want_shape):
            problems.append(
                FieldProblem(
                    where,
                    f"upstream produces shape {have_shape}, downstream expects shape {want_shape}",
                    "shape",
                )
            )
    if want_dtype is not None:
        if have_dtype is None:
            problems.append(
                FieldProblem(
                    where,
                    f"upstream does not declare a dtype, downstream expects {want_dtype}",
                    "dtype",
                    "warning",
                )
            )
        elif have_dtype != want_dtype:
            problems.append(
                FieldProblem(
                    where, f"upstream produces dtype {have_dtype}, downstream expects {want_dtype}", "dtype"
                )
            )
    return problems


def _shapes_fit(have: tuple[Any, ...], want: tuple[Any, ...]) -> bool:
    """Fixed sizes must agree axis by axis; named axes (``'x'``) and ``...`` match any size."""
    if Ellipsis in have or Ellipsis in want or "..." in have or "..." in want:
        return True
    if len(have) != len(want):
        return False
    return all(
        not (isinstance(h, int) and isinstance(w, int)) or h == w for h, w in zip(have, want, strict=True)
    )


def field_path_exists(schema: type[BaseDoc], path: str) -> bool:
    """Whether a condition's field path (``tags__lang``, ``chunks__text``) names a field of ``schema``.

    Paths use docarray's query separator ``__`` (``.`` is accepted too); a dict or an untyped
    field accepts any key below it.
    """
    current: Any = schema
    for part in path.replace(".", "__").split("__"):
        if part.isdigit():
            continue  # an index into a list
        base = type_info(current).base
        item = doclist_item(base)
        if item is not None:
            base = item
        while typing.get_origin(base) in (list, tuple, typing.Sequence):
            base = type_info(typing.get_args(base)[0]).base if typing.get_args(base) else Any
        if base is Any or typing.get_origin(base) in (dict, typing.Mapping) or base is dict:
            return True
        if not _is_doc(base) or is_untyped(base):
            return False
        field = base.model_fields.get(part)
        if field is None:
            return False
        current = field.annotation
    return True
