"""devkit's binary document codec: exact, fast, and only between devkit peers.

Layout of one encoded request (``docs_bytes``)::

    MARKER | body length (4 bytes, little-endian) | body (msgpack) | array buffers

The body is a msgpack list with one map per document (field name -> value). Values msgpack
has no exact type for travel as msgpack extension types (see :mod:`devkit.codec.kinds`):
str and bytes subclasses with their class, ints beyond 64 bits, numpy scalars, tuples, sets,
nested documents and DocLists, and arrays, whose bytes are not in the body but in the buffer
region after it (raw, 16-byte aligned; the body holds dtype, shape, order, writability and
tensor class). Decoding validates with the receiver's schema. A value the codec cannot
represent exactly raises :class:`Unrepresentable`; callers then fall back to docarray's
``DocListProto``, so nothing is ever silently lossy.
"""

from devkit.codec.decode import count_docs, decode_docs
from devkit.codec.encode import encode_docs
from devkit.codec.kinds import MARKER, Unrepresentable
from devkit.codec.proto import read_doclist_proto

__all__ = ["MARKER", "Unrepresentable", "count_docs", "decode_docs", "encode_docs", "read_doclist_proto"]
