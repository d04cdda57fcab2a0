"""What the codec can carry: extension codes, and the exact classes it knows by name.

Only classes listed here are ever instantiated from a name found in a message (docarray's
str, bytes and tensor types, numpy's ndarray); anything else is :class:`Unrepresentable`
on the way out, so a receiver never imports or builds a class a sender named.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import docarray.typing as docarray_typing
import numpy as np

__all__ = [
    "ARRAY_CLASSES",
    "BYTES_CLASSES",
    "MARKER",
    "STR_CLASSES",
    "Ext",
    "Unrepresentable",
    "WireDoc",
    "WireDocList",
    "wire_name",
]

#: Prefix of codec-encoded documents in ``docs_bytes``. Byte 0 is an invalid protobuf tag,
#: so a peer that expects ``DocListProto`` fails loudly instead of misreading the data.
MARKER = b"\x00dk-mp1\x00"


class Unrepresentable(TypeError):
    """A value the codec cannot carry exactly (a torch tensor, a custom class, an object array)."""


class Ext:
    """msgpack extension type codes (0-127 are the application's)."""

    BIGINT = 0  # int beyond 64 bits: decimal text
    STR = 1  # str subclass: [class name, text]
    BYTES = 2  # bytes subclass: [class name, bytes]
    ARRAY = 3  # [class name, dtype, shape, fortran order, writeable, offset in buffer region]
    SCALAR = 4  # numpy scalar: [dtype, raw bytes]
    TUPLE = 5
    SET = 6
    FROZENSET = 7
    DOC = 8  # [class name, {field: value}]
    DOCLIST = 9  # [document class name, [{field: value}, ...]]
    COMPLEX = 10  # [real, imag]
    ID = 11  # docarray's ID: its text, UTF-8


class WireDoc(dict[str, Any]):
    """A received document's fields, before the receiver's schema turns them into a document."""

    __slots__ = ("name",)

    def __init__(self, name: str, fields: dict[str, Any]) -> None:
        super().__init__(fields)
        self.name = name


class WireDocList(list[WireDoc]):
    """A received DocList's documents, before the receiver's schema turns them into a DocList."""

    __slots__ = ("name",)

    def __init__(self, docs: Iterable[WireDoc] = (), name: str = "AnyDoc") -> None:
        super().__init__(docs)  # list's signature first: pydantic rebuilds sequences with type(value)(items)
        self.name = name


def _docarray_classes(base: type) -> dict[str, type]:
    # vars(), not getattr: docarray.typing imports torch/tensorflow types lazily on attribute access
    return {
        name: value
        for name, value in vars(docarray_typing).items()
        if isinstance(value, type) and issubclass(value, base) and value is not base
    }


STR_CLASSES: dict[str, type[str]] = _docarray_classes(str)
BYTES_CLASSES: dict[str, type[bytes]] = _docarray_classes(bytes)
ARRAY_CLASSES: dict[str, type[np.ndarray]] = {"ndarray": np.ndarray, **_docarray_classes(np.ndarray)}
_NAMES = {cls: name for table in (STR_CLASSES, BYTES_CLASSES, ARRAY_CLASSES) for name, cls in table.items()}


def wire_name(cls: type) -> str:
    """The name ``cls`` travels as; a shape-parametrised tensor (``NdArray[512]``) travels as its
    base class (the receiver's schema re-applies the shape)."""
    name = _NAMES.get(cls)
    if name is None:
        name = _NAMES.get(getattr(cls, "__unparametrizedcls__", None))  # type: ignore[arg-type]
    if name is None:
        raise Unrepresentable(
            f"{cls.__module__}.{cls.__qualname__} is not a type devkit's codec carries exactly"
        )
    return name
