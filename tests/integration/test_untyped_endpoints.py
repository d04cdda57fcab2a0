"""Endpoints without type hints, written as the docs write them, change documents in place
and keep every field the client sent."""

from __future__ import annotations

from docarray import BaseDoc, DocList

from devkit import Executor, Flow, requests


class TextDoc(BaseDoc):
    text: str = ""
    count: int = 0


class SetsText(Executor):
    @requests
    def foo(self, docs, **kwargs):
        for doc in docs:
            doc.text = "hello"
            doc.added = "by the Executor"


def test_an_untyped_endpoint_assigns_fields_and_keeps_the_others() -> None:
    with Flow(quiet=True).add(uses=SetsText).add(uses=SetsText) as flow:
        typed = flow.post("/", [TextDoc(text="x", count=3)], return_type=DocList[TextDoc])
        untyped = flow.post("/", [TextDoc(text="x", count=3)])
    assert (typed[0].text, typed[0].count) == ("hello", 3)
    assert (untyped[0].text, untyped[0].count, untyped[0].added) == ("hello", 3, "by the Executor")
