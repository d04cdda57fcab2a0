"""Documents to bytes: msgpack does the walking in C; Python runs only for values msgpack has
no exact type for (``strict_types``: subclasses, tuples, big ints, arrays, nested documents)."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any

import msgpack
import numpy as np
from docarray import BaseDoc, DocList
from docarray.typing import ID

from devkit.codec.kinds import MARKER, Ext, Unrepresentable, wire_name

__all__ = ["encode_docs"]

#: ``ExtType(code, data)`` without its per-call type checks (the values here are always right).
_ext = msgpack.ExtType._make
_ALIGN = 16
_ZEROS = bytes(_ALIGN)
_INT64 = range(-(2**63), 2**64)


def encode_docs(docs: Iterable[BaseDoc]) -> bytes:
    """``docs`` as codec bytes (with :data:`MARKER`); raises :class:`Unrepresentable` for any
    value it cannot carry exactly."""
    encoder = _Encoder()
    body = encoder.pack([_fields(doc) for doc in docs])
    head = MARKER + struct.pack("<I", len(body))
    if not encoder.buffers:
        return head + body
    return b"".join((head, body, *encoder.buffers))


def _fields(doc: BaseDoc) -> dict[str, Any]:
    extra = doc.__pydantic_extra__
    return {**doc.__dict__, **extra} if extra else doc.__dict__


class _Encoder:
    """One encoding: collects array buffers, and packs nested values with one msgpack Packer
    per nesting depth (a Packer is not re-entrant; its ``default`` hook packs nested values)."""

    __slots__ = ("_depth", "_packers", "buffers", "size")

    def __init__(self) -> None:
        self.buffers: list[Any] = []
        self.size = 0
        self._packers: list[msgpack.Packer] = []
        self._depth = 0

    def pack(self, value: Any) -> bytes:
        depth = self._depth
        if depth == len(self._packers):
            self._packers.append(
                msgpack.Packer(default=self.default, strict_types=True, use_bin_type=True, datetime=False)
            )
        self._depth = depth + 1
        try:
            return self._packers[depth].pack(value)
        finally:
            self._depth = depth

    def default(self, value: Any) -> msgpack.ExtType:
        """Called by msgpack for every value it has no exact type for."""
        cls = type(value)
        handler = _HANDLERS.get(cls)
        if handler is None:
            handler = _handler_for(cls)
        return handler(self, value)

    def array(self, value: np.ndarray) -> msgpack.ExtType:
        dtype = value.dtype
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
            raise Unrepresentable(f"numpy arrays of dtype {dtype} (objects or records) are not carried")
        name = wire_name(type(value))
        fortran = bool(value.ndim > 1 and value.flags.f_contiguous and not value.flags.c_contiguous)
        plain = np.asarray(value)
        if not (plain.flags.c_contiguous or fortran):
            plain = np.ascontiguousarray(plain)
        try:
            buffer: Any = memoryview(plain.T if fortran else plain).cast("B")  # type: ignore[arg-type]
        except (TypeError, ValueError):  # dtypes without a buffer format (datetime64, ...)
            buffer = plain.tobytes(order="F" if fortran else "C")
        offset = self.size
        self.buffers.append(buffer)
        size = offset + plain.nbytes
        padding = -size % _ALIGN
        if padding:
            self.buffers.append(_ZEROS[:padding])
        self.size = size + padding
        meta = [name, dtype.str, list(value.shape), fortran, bool(value.flags.writeable), offset]
        return _ext((Ext.ARRAY, self.pack(meta)))


def _int(encoder: _Encoder, value: int) -> msgpack.ExtType:
    if type(value) is not int or value in _INT64:  # an int subclass (an IntEnum, ...)
        raise Unrepresentable(f"{type(value).__qualname__} is not a type devkit's codec carries exactly")
    return _ext((Ext.BIGINT, str(value).encode()))


def _id(encoder: _Encoder, value: ID) -> msgpack.ExtType:
    return _ext((Ext.ID, value.encode()))  # every document has one: no nested msgpack


def _str(encoder: _Encoder, value: str) -> msgpack.ExtType:
    return _ext((Ext.STR, encoder.pack([wire_name(type(value)), str(value)])))


def _bytes(encoder: _Encoder, value: bytes) -> msgpack.ExtType:
    return _ext((Ext.BYTES, encoder.pack([wire_name(type(value)), bytes(value)])))


def _scalar(encoder: _Encoder, value: np.generic) -> msgpack.ExtType:
    if value.dtype.hasobject or value.dtype.fields is not None:
        raise Unrepresentable(f"numpy scalars of dtype {value.dtype} are not carried")
    return _ext((Ext.SCALAR, encoder.pack([value.dtype.str, value.tobytes()])))


def _collection(code: int) -> Callable[[_Encoder, Any], msgpack.ExtType]:
    return lambda encoder, value: _ext((code, encoder.pack(list(value))))


def _complex(encoder: _Encoder, value: complex) -> msgpack.ExtType:
    return _ext((Ext.COMPLEX, encoder.pack([value.real, value.imag])))


def _doc(encoder: _Encoder, value: BaseDoc) -> msgpack.ExtType:
    return _ext((Ext.DOC, encoder.pack([type(value).__name__, _fields(value)])))


def _doclist(encoder: _Encoder, value: DocList[Any]) -> msgpack.ExtType:
    name = getattr(value.doc_type, "__name__", "AnyDoc")
    return _ext((Ext.DOCLIST, encoder.pack([name, [_fields(doc) for doc in value]])))


def _unrepresentable(encoder: _Encoder, value: Any) -> msgpack.ExtType:
    cls = type(value)
    raise Unrepresentable(f"{cls.__module__}.{cls.__qualname__} is not a type devkit's codec carries exactly")


Handler = Callable[[_Encoder, Any], msgpack.ExtType]
_HANDLERS: dict[type, Handler] = {
    int: _int,
    ID: _id,
    tuple: _collection(Ext.TUPLE),
    set: _collection(Ext.SET),
    frozenset: _collection(Ext.FROZENSET),
    complex: _complex,
    np.ndarray: _Encoder.array,
}


def _handler_for(cls: type) -> Handler:
    """The handler of a class met for the first time (subclasses), remembered."""
    handler: Handler
    if issubclass(cls, BaseDoc):
        handler = _doc
    elif issubclass(cls, DocList):
        handler = _doclist
    elif issubclass(cls, np.ndarray):
        handler = _Encoder.array  # wire_name refuses classes it does not know
    elif issubclass(cls, np.generic):
        handler = _scalar
    elif issubclass(cls, str) and _known(cls):
        handler = _str
    elif issubclass(cls, bytes) and _known(cls):
        handler = _bytes
    elif issubclass(cls, int) and not issubclass(cls, bool):
        handler = _int
    else:
        handler = _unrepresentable
    _HANDLERS[cls] = handler
    return handler


def _known(cls: type) -> bool:
    try:
        wire_name(cls)
    except Unrepresentable:
        return False
    return True
