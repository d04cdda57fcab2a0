"""The payload mix: stock docarray documents, plus a locally defined TextDoc as the control.

Shared by devkit's side and jina's side of the bench (it imports only docarray and numpy),
so both serve and send exactly the same documents. Each payload has its own endpoint on
the two Executors of the measured Flow; the first Executor writes to every document, the
second reads what the first wrote, so every hop decodes and encodes every document.
"""

# No ``from __future__ import annotations``: jina's workers need these schemas' field types
# resolved when the classes are created (they rebuild them in other processes).
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from cpu import tree_cpu_seconds
from docarray import BaseDoc, DocList
from docarray.documents import ImageDoc, TextDoc


class PlainTextDoc(BaseDoc):
    """The control: a locally defined document with one str field."""

    text: str = ""


class Page(BaseDoc):
    """A nested document: a title and a DocList of 4 embedded paragraphs."""

    title: TextDoc = TextDoc()
    paragraphs: DocList[TextDoc] = DocList[TextDoc]()


_PIXELS = np.random.default_rng(0).integers(0, 255, size=(224, 224, 3), dtype=np.uint8)
_VECTOR = np.random.default_rng(1).random(512, dtype=np.float32)


def _text(i: int) -> TextDoc:
    return TextDoc(text=f"doc {i}")


def _embedding(i: int) -> TextDoc:
    return TextDoc(text=f"doc {i}", embedding=_VECTOR.copy())


def _image(i: int) -> ImageDoc:
    return ImageDoc(url=f"https://example.com/images/{i}.png", tensor=_PIXELS.copy())


def _nested(i: int) -> Page:
    return Page(
        title=TextDoc(text=f"page {i}"),
        paragraphs=DocList[TextDoc](
            [TextDoc(text=f"paragraph {j}", embedding=_VECTOR[:8].copy()) for j in range(4)]
        ),
    )


def _control(i: int) -> PlainTextDoc:
    return PlainTextDoc(text=f"doc {i}")


@dataclass(frozen=True)
class Payload:
    """One kind of document: how to make one, how many per request, and what to send."""

    name: str
    schema: type[BaseDoc]
    make: Callable[[int], BaseDoc]
    request_size: int
    total_docs: int  # documents for the throughput figure (a full run; --quick sends a quarter)

    @property
    def endpoint(self) -> str:
        return f"/{self.name}"

    def docs(self, count: int) -> DocList[Any]:
        return DocList[self.schema]([self.make(i) for i in range(count)])  # type: ignore[name-defined]


PAYLOADS = [
    Payload("text", TextDoc, _text, 100, 10_000),
    Payload("embedding", TextDoc, _embedding, 100, 10_000),
    Payload("image", ImageDoc, _image, 10, 1_000),
    Payload("nested", Page, _nested, 100, 4_000),
    Payload("control", PlainTextDoc, _control, 100, 10_000),
]


# -- what the two Executors do, per payload (the same code runs under jina and devkit) --------


def first(name: str, docs: DocList[Any]) -> None:
    """The first Executor writes to every document (in place: received arrays are writable)."""
    for doc in docs:
        if name == "image":
            doc.tensor[0, 0, 0] = 7
        elif name == "nested":
            doc.title.text = doc.title.text.upper()
        elif name == "embedding":
            doc.embedding[0] = 7.0
            doc.text = doc.text.upper()
        else:
            doc.text = doc.text.upper()


def second(name: str, docs: DocList[Any]) -> None:
    """The second Executor reads what the first wrote and writes again."""
    for doc in docs:
        if name == "image":
            doc.tensor[0, 0, 1] = doc.tensor[0, 0, 0]
        elif name == "nested":
            doc.paragraphs[0].text = doc.title.text
        elif name == "embedding":
            doc.text = f"{doc.text}!{doc.embedding[0]:.0f}"
        else:
            doc.text = doc.text + "!"


def check(name: str, docs: DocList[Any], count: int) -> None:
    """Every document came back, changed by both Executors."""
    if len(docs) != count:
        raise AssertionError(f"{name}: {len(docs)} documents came back, {count} were sent")
    doc = docs[0]
    ok = {
        "image": lambda: int(doc.tensor[0, 0, 1]) == 7 and doc.tensor.shape == (224, 224, 3),
        "nested": lambda: doc.paragraphs[0].text == doc.title.text == doc.title.text.upper(),
        "embedding": lambda: doc.text.endswith("!7") and doc.embedding.shape == (512,),
    }.get(name, lambda: doc.text.endswith("!") and doc.text == doc.text.upper())()
    if not ok:
        raise AssertionError(f"{name}: the first document came back unchanged or wrong: {doc}")


# -- measuring (the same calls for devkit's and jina's clients) -------------------------------


@dataclass
class MixFigures:
    p50_ms: float
    docs_per_s: float
    cpu_us_per_doc: float

    def as_dict(self) -> dict[str, float]:
        return {"p50_ms": self.p50_ms, "docs_per_s": self.docs_per_s, "cpu_us_per_doc": self.cpu_us_per_doc}


def measure_payload(client: Any, payload: Payload, *, posts: int, scale: float) -> MixFigures:
    """p50 of ``posts`` sequential 1-document posts; documents/second for ``scale`` of the
    payload's documents in requests of its size; CPU microseconds per document over the whole
    process tree (client, gateway, workers) while they were sent. ``client``: devkit's or
    jina's (the same calls)."""
    return_type = DocList[payload.schema]  # type: ignore[name-defined]
    one = payload.docs(1)
    for _ in range(10):  # warm up
        client.post(payload.endpoint, one, return_type=return_type)
    took = []
    for _ in range(posts):
        began = time.perf_counter()
        client.post(payload.endpoint, one, return_type=return_type)
        took.append(time.perf_counter() - began)
    took.sort()
    count = max(payload.request_size, int(payload.total_docs * scale))
    docs = payload.docs(count)
    cpu_before, began = tree_cpu_seconds(), time.perf_counter()
    out = client.post(payload.endpoint, docs, request_size=payload.request_size, return_type=return_type)
    elapsed, cpu = time.perf_counter() - began, tree_cpu_seconds() - cpu_before
    check(payload.name, out, count)
    return MixFigures(took[len(took) // 2] * 1e3, count / elapsed, cpu / count * 1e6)
