"""The document type of endpoints and clients that declare no schema."""

from __future__ import annotations

from typing import Any

from docarray.base_doc import AnyDoc

__all__ = ["UntypedDoc"]


class UntypedDoc(AnyDoc):
    """A schemaless document whose fields can be read *and assigned*.

    docarray's ``AnyDoc`` keeps every field it was sent, but pydantic rejects assigning to
    them (``doc.text = 'x'`` raises). Untyped endpoints (``def foo(self, docs, **kw)``) are
    written exactly like that, so they receive these instead: every field of whatever the
    client sent survives the round trip, and new fields can be added.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in type(self).model_fields or name.startswith("_"):
            super().__setattr__(name, value)
        else:
            self.__dict__[name] = value
