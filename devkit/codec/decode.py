"""Bytes to documents: msgpack rebuilds the values, the receiver's schema validates them.

Arrays are views into one writable copy of the request's buffer region (one copy per
request, not per array); an array that was read-only when sent is read-only again.
"""

from __future__ import annotations

import math
import struct
import typing
from typing import Any

import msgpack
import numpy as np
from docarray import DocList
from docarray.typing import ID

from devkit.codec.kinds import ARRAY_CLASSES, BYTES_CLASSES, MARKER, STR_CLASSES, Ext, WireDoc, WireDocList
from devkit.codec.plan import plan_for

__all__ = ["count_docs", "decode_docs"]

_HEAD = len(MARKER) + 4


def decode_docs(raw: bytes, doclist_type: type[DocList[Any]]) -> DocList[Any]:
    """The documents in ``raw`` (codec bytes, with :data:`MARKER`) as ``doclist_type``, validated
    with its document schema. Malformed bytes raise ``ValueError``."""
    if len(raw) < _HEAD or not raw.startswith(MARKER):
        raise ValueError("documents are not in devkit's codec format (no marker)")
    (length,) = struct.unpack_from("<I", raw, len(MARKER))
    end = _HEAD + length
    if end > len(raw):
        raise ValueError(f"truncated documents: the body claims {length} bytes, {len(raw) - _HEAD} arrived")
    view = memoryview(raw)
    hook = _Hook(bytearray(view[end:]) if end < len(raw) else bytearray())
    try:
        rows = hook.unpack(view[_HEAD:end])
    except (msgpack.UnpackException, struct.error, KeyError, IndexError) as exc:
        raise ValueError(f"malformed documents in devkit's codec format: {exc!r}") from exc
    if type(rows) is not list:
        raise ValueError("malformed documents in devkit's codec format: the body is not a list")
    return plan_for(doclist_type.doc_type).doclist(doclist_type, rows)


def count_docs(raw: bytes) -> int:
    """How many documents ``raw`` (codec bytes) holds, read from the body's list header alone."""
    unpacker = msgpack.Unpacker()
    unpacker.feed(raw[_HEAD : _HEAD + 5])  # a msgpack array header is at most 5 bytes
    try:
        return int(unpacker.read_array_header())
    except (msgpack.UnpackException, ValueError) as exc:
        raise ValueError(f"malformed documents in devkit's codec format: {exc!r}") from exc


class _Hook:
    """msgpack's ``ext_hook`` for one request: turns extension values back into Python values."""

    __slots__ = ("region",)

    def __init__(self, region: bytearray) -> None:
        self.region = region

    def unpack(self, data: Any) -> Any:
        return msgpack.unpackb(data, ext_hook=self, raw=False, strict_map_key=False, use_list=True)

    def __call__(self, code: int, data: bytes) -> Any:
        if code == Ext.ID:
            return ID(data.decode())
        if code == Ext.ARRAY:
            return self.array(*self.unpack(data))
        if code == Ext.DOC:
            name, fields = self.unpack(data)
            return WireDoc(name, fields)
        if code == Ext.DOCLIST:
            name, rows = self.unpack(data)
            return WireDocList([WireDoc(name, row) for row in rows], name)
        if code == Ext.STR:
            name, text = self.unpack(data)
            return STR_CLASSES[name](text)
        if code == Ext.BYTES:
            name, content = self.unpack(data)
            return BYTES_CLASSES[name](content)
        if code == Ext.BIGINT:
            return int(data)
        if code == Ext.TUPLE:
            return tuple(self.unpack(data))
        if code == Ext.SET:
            return set(self.unpack(data))
        if code == Ext.FROZENSET:
            return frozenset(self.unpack(data))
        if code == Ext.SCALAR:
            dtype, content = self.unpack(data)
            return np.frombuffer(content, dtype=_dtype(dtype))[0]
        if code == Ext.COMPLEX:
            real, imag = self.unpack(data)
            return complex(real, imag)
        raise ValueError(f"unknown extension type {code} in devkit's codec format")

    def array(
        self, name: str, dtype_str: str, shape: list[int], fortran: bool, writeable: bool, offset: int
    ) -> np.ndarray:
        cls = ARRAY_CLASSES[name]
        dtype = _dtype(dtype_str)
        count = math.prod(shape)
        if any(side < 0 for side in shape):
            raise ValueError(f"an array's shape {shape} has a negative side")
        if offset < 0 or offset + count * dtype.itemsize > len(self.region):
            raise ValueError(f"an array of {count} x {dtype} lies outside the request's buffers")
        order: typing.Literal["C", "F"] = "F" if fortran else "C"
        if count == 0 or dtype.itemsize == 0:
            array = np.zeros(tuple(shape), dtype=dtype, order=order)
        else:
            flat = np.frombuffer(self.region, dtype=dtype, count=count, offset=offset)
            array = flat.reshape(tuple(shape), order=order)
        if not writeable:
            array.flags.writeable = False
        return array if cls is np.ndarray else array.view(cls)


def _dtype(text: str) -> np.dtype[Any]:
    dtype = np.dtype(text)
    if dtype.hasobject:
        raise ValueError(f"dtype {text!r} holds Python objects; devkit's codec never sends it")
    return dtype
