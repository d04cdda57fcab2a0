"""devkit's binary codec gives back exactly what was sent, for documents drawn from schemas.

Documents are drawn field by field from each schema's annotations (Hypothesis), encoded,
decoded with the same schema, and compared value by value: class, dtype and byte order,
shape, writability, tensor class, str/bytes subclasses, int width, float sign, key order.
"""

from __future__ import annotations

import math
import struct
import types
import typing
from typing import Any, Union

import msgpack
import numpy as np
import pytest
from docarray import BaseDoc, DocList
from docarray.base_doc import AnyDoc
from docarray.documents import ImageDoc, TextDoc
from docarray.typing import (
    ID,
    AnyEmbedding,
    ImageBytes,
    ImageNdArray,
    ImageTensor,
    ImageUrl,
    NdArray,
    NdArrayEmbedding,
    TextUrl,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pydantic import ValidationError

from devkit.codec import MARKER, Unrepresentable, decode_docs, encode_docs


class Scalars(BaseDoc):
    text: str = ""
    count: int = 0
    ratio: float = 0.5
    flag: bool = False
    raw: bytes = b""
    maybe: int | None = 5  # None, missing (-> 5) and 5 are three different things
    note: str | None = None
    url: TextUrl | None = None
    image_url: ImageUrl | None = None
    picture: ImageBytes | None = None
    either: int | str = 0
    anything: Any = None


class Tensors(BaseDoc):
    tensor: NdArray | None = None
    embedding: AnyEmbedding | None = None
    image: ImageNdArray | None = None
    anything: Any = None


class Page(BaseDoc):
    title: TextDoc = TextDoc()
    chunks: DocList[TextDoc] = DocList[TextDoc]()
    picture: ImageDoc | None = None
    either: TextDoc | ImageDoc | None = None
    tensors: Tensors | None = None


# -- strategies, from the annotations ------------------------------------------------------

_LETTERS = st.text(st.characters(min_codepoint=ord("a"), max_codepoint=ord("z")), min_size=1, max_size=8)
_INTS = st.integers() | st.sampled_from([2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**40, -(10**40)])
_FLOATS = st.floats(allow_nan=True, allow_infinity=True)
_DTYPES = st.one_of(
    hnp.boolean_dtypes(),
    hnp.integer_dtypes(endianness="?"),
    hnp.unsigned_integer_dtypes(endianness="?"),
    hnp.floating_dtypes(endianness="?"),
    hnp.complex_number_dtypes(endianness="?"),
    hnp.datetime64_dtypes(endianness="?"),
    hnp.byte_string_dtypes(max_len=3),
    hnp.unicode_string_dtypes(endianness="?", max_len=3),
)
_SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@st.composite
def arrays(draw: st.DrawFn, dtypes: st.SearchStrategy[np.dtype[Any]] = _DTYPES) -> np.ndarray:
    array = draw(hnp.arrays(draw(dtypes), draw(_SHAPES)))
    if array.ndim > 1 and draw(st.booleans()):
        array = np.asfortranarray(array)
    if array.ndim >= 1 and array.shape[0] > 1 and draw(st.booleans()):
        array = array[::2]  # not contiguous
    if draw(st.booleans()):
        array.flags.writeable = False
    return array


_FLOAT_ARRAYS = arrays(hnp.floating_dtypes(endianness="?"))
_TENSOR_CLASSES = st.sampled_from([np.ndarray, NdArray, NdArrayEmbedding, ImageNdArray])


def _hashables() -> st.SearchStrategy[Any]:
    return st.none() | st.booleans() | _INTS | _LETTERS | st.binary(max_size=4)


def any_values() -> st.SearchStrategy[Any]:
    """What an ``Any`` field may hold: scalars of every kind, containers, arrays, documents."""
    scalars = st.one_of(
        _hashables(),
        _FLOATS,
        st.text(max_size=6),
        st.builds(ID, _LETTERS),
        st.builds(lambda name: TextUrl(f"https://example.com/{name}.txt"), _LETTERS),
        st.builds(ImageBytes, st.binary(max_size=4)),
        st.builds(complex, _FLOATS, _FLOATS),
        st.builds(np.float32, st.floats(width=32)),
        st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)),
        st.builds(np.bool_, st.booleans()),
        st.builds(lambda a, cls: a if cls is np.ndarray else a.view(cls), arrays(), _TENSOR_CLASSES),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.lists(inner, max_size=3).map(tuple),
            st.sets(_hashables(), max_size=3),
            st.frozensets(_hashables(), max_size=3),
            st.dictionaries(_LETTERS | st.integers(), inner, max_size=3),
        ),
        max_leaves=8,
    )


def strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    """Values for a field declared ``annotation``."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return st.one_of(*(strategy_for(arg) for arg in typing.get_args(annotation)))
    if annotation is Any:
        return any_values()
    if isinstance(origin, type) and issubclass(origin, DocList):  # DocList[X] is a typing alias
        (doc_type,) = typing.get_args(annotation)
        return st.lists(documents(doc_type), max_size=3).map(DocList[doc_type])
    if isinstance(annotation, type) and issubclass(annotation, BaseDoc):
        return documents(annotation)
    if annotation in (AnyEmbedding, ImageNdArray, ImageTensor):
        return _FLOAT_ARRAYS
    if isinstance(annotation, type) and issubclass(annotation, NdArray):
        return arrays()
    simple: dict[Any, st.SearchStrategy[Any]] = {
        type(None): st.none(),
        str: st.text(),
        int: _INTS,
        float: _FLOATS,
        bool: st.booleans(),
        bytes: st.binary(max_size=8),
        ID: _LETTERS,
        TextUrl: st.builds(lambda name: f"https://example.com/{name}.txt", _LETTERS),
        ImageUrl: st.builds(lambda name: f"https://example.com/{name}.png", _LETTERS),
        ImageBytes: st.binary(max_size=8),
    }
    return simple[annotation]


def documents(schema: type[BaseDoc]) -> st.SearchStrategy[BaseDoc]:
    """Documents of ``schema``; any field may be left out (it then takes its default)."""
    fields = {name: strategy_for(field.annotation) for name, field in schema.model_fields.items()}
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: schema(**values))


# -- exact comparison -----------------------------------------------------------------------


def assert_same(got: Any, sent: Any, where: str = "docs") -> None:
    """``got`` is ``sent``, down to classes, dtypes, flags and float signs."""
    assert type(got) is type(sent), f"{where}: {type(got)} instead of {type(sent)}"
    if isinstance(sent, np.ndarray):
        assert got.dtype == sent.dtype and got.dtype.str == sent.dtype.str, f"{where}: dtype {got.dtype}"
        assert got.shape == sent.shape, f"{where}: shape {got.shape} instead of {sent.shape}"
        assert got.flags.writeable == sent.flags.writeable, f"{where}: writeable {got.flags.writeable}"
        assert got.tobytes() == sent.tobytes(), f"{where}: values differ"
    elif isinstance(sent, BaseDoc):
        assert got.__dict__.keys() == sent.__dict__.keys(), f"{where}: fields {got.__dict__.keys()}"
        for name, value in sent.__dict__.items():
            assert_same(got.__dict__[name], value, f"{where}.{name}")
    elif isinstance(sent, DocList):
        assert got.doc_type is sent.doc_type and len(got) == len(sent), (
            f"{where}: {got.doc_type} x {len(got)}"
        )
        for i, (mine, theirs) in enumerate(zip(got, sent, strict=True)):
            assert_same(mine, theirs, f"{where}[{i}]")
    elif isinstance(sent, dict):
        assert list(got) == list(sent), f"{where}: keys {list(got)} instead of {list(sent)}"
        for key, value in sent.items():
            assert_same(got[key], value, f"{where}[{key!r}]")
    elif isinstance(sent, list | tuple):
        assert len(got) == len(sent), f"{where}: {len(got)} items instead of {len(sent)}"
        for i, (mine, theirs) in enumerate(zip(got, sent, strict=True)):
            assert_same(mine, theirs, f"{where}[{i}]")
    elif isinstance(sent, float | complex | np.floating | np.complexfloating):
        assert repr(got) == repr(sent) or (math.isnan(abs(got)) and math.isnan(abs(sent))), where
    elif isinstance(sent, np.generic):
        assert got.tobytes() == sent.tobytes(), f"{where}: {got!r} instead of {sent!r}"
    else:
        assert got == sent, f"{where}: {got!r} instead of {sent!r}"


def round_trip(docs: DocList[Any]) -> DocList[Any]:
    return decode_docs(encode_docs(docs), type(docs))


_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("schema", [Scalars, Tensors, Page, TextDoc, ImageDoc], ids=lambda s: s.__name__)
def test_documents_come_back_exactly(schema: type[BaseDoc]) -> None:
    @_SETTINGS
    @given(st.lists(documents(schema), max_size=4))
    def check(drawn: list[BaseDoc]) -> None:
        docs = DocList[schema](drawn)  # type: ignore[valid-type]
        assert_same(round_trip(docs), docs)

    check()


@pytest.mark.parametrize("schema", [Scalars, Tensors, Page], ids=lambda s: s.__name__)
def test_documents_pass_through_anydoc_exactly(schema: type[BaseDoc]) -> None:
    """What a gateway does for a filter or merge: decode as AnyDoc, encode again."""

    @_SETTINGS
    @given(st.lists(documents(schema), max_size=3))
    def check(drawn: list[BaseDoc]) -> None:
        docs = DocList[schema](drawn)  # type: ignore[valid-type]
        relayed = encode_docs(decode_docs(encode_docs(docs), DocList[AnyDoc]))
        assert_same(decode_docs(relayed, DocList[schema]), docs)  # type: ignore[valid-type]

    check()


def test_none_missing_and_default_stay_apart() -> None:
    class Sender(BaseDoc):
        maybe: int | None = 7

    docs = DocList[Sender]([Sender(maybe=None), Sender(), Sender(maybe=5)])
    got = decode_docs(encode_docs(docs), DocList[Scalars])
    assert [doc.maybe for doc in got] == [None, 7, 5]  # sent None, sent the sender's default, sent 5
    assert [doc.text for doc in got] == ["", "", ""]  # never sent: the receiver's default


def test_the_receivers_schema_validates() -> None:
    class Sender(BaseDoc):
        count: str = "many"

    with pytest.raises(ValidationError, match="count"):
        decode_docs(encode_docs(DocList[Sender]([Sender()])), DocList[Scalars])


def test_arrays_arrive_writable_in_one_buffer_and_independent_of_the_bytes() -> None:
    docs = DocList[TextDoc]([TextDoc(embedding=np.arange(4, dtype=np.float32)) for _ in range(3)])
    raw = encode_docs(docs)
    got = decode_docs(raw, DocList[TextDoc])
    owners = {id(_owner(doc.embedding)) for doc in got}
    assert len(owners) == 1  # one copy for the whole request, not one per array
    got[0].embedding[0] = 42
    assert got[1].embedding[0] == 0 and decode_docs(raw, DocList[TextDoc])[0].embedding[0] == 0


def _owner(array: np.ndarray) -> Any:
    while isinstance(array.base, np.ndarray):
        array = array.base
    base = array.base
    return base.obj if isinstance(base, memoryview) else base


class Custom:
    pass


class Label(str):
    pass


class Grid(np.ndarray):
    pass


@pytest.mark.parametrize(
    "value",
    [Custom(), Label("a custom str subclass"), np.array([object()]), np.zeros(2).view(Grid)],
    ids=["custom-class", "str-subclass", "object-array", "ndarray-subclass"],
)
def test_values_it_cannot_carry_exactly_are_refused(value: Any) -> None:
    with pytest.raises(Unrepresentable, match="not"):
        encode_docs(DocList[Scalars]([Scalars(anything=value)]))


@pytest.mark.parametrize(
    "raw", [b"", b"\x00dk-mp1\x00\xff\xff\x00\x00", b"\x00dk-mp1\x00\x01\x00\x00\x00\xc1"]
)
def test_malformed_bytes_raise_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode_docs(raw, DocList[TextDoc])


def test_an_array_cannot_claim_a_negative_shape() -> None:
    """A shape of [-1] would make numpy read the whole buffer region as that array."""
    docs = DocList[TextDoc]([TextDoc(embedding=np.arange(4, dtype=np.float32))])
    raw = encode_docs(docs).replace(msgpack.packb([4]), msgpack.packb([-1]))
    with pytest.raises(ValueError, match="negative"):
        decode_docs(raw, DocList[TextDoc])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_after_the_marker_decode_or_raise_value_or_type_error(body: bytes) -> None:
    """What a server turns into INVALID_ARGUMENT: never another exception, never a crash."""
    raw = MARKER + struct.pack("<I", len(body)) + body
    try:
        got = decode_docs(raw, DocList[Scalars])
    except (ValueError, TypeError):
        return
    assert all(type(doc) is Scalars for doc in got)
