"""A small text pipeline: clean the text, embed it, then tag each document.

Three Executors with typed schemas, so devkit's contract check can verify that each one
reads what the previous one sends.
"""

from __future__ import annotations

import hashlib

import numpy as np
from docarray import BaseDoc, DocList
from docarray.typing import NdArray

from devkit import Executor, requests

DIM = 8


class TextDoc(BaseDoc):
    text: str = ""


class CleanDoc(BaseDoc):
    text: str = ""
    words: int = 0


class EmbeddedDoc(BaseDoc):
    text: str = ""
    words: int = 0
    embedding: NdArray[DIM] | None = None


class TaggedDoc(EmbeddedDoc):
    tags: dict[str, str] = {}


class Clean(Executor):
    """Lower-cases and collapses whitespace; counts the words."""

    @requests
    def clean(self, docs: DocList[TextDoc], **kwargs) -> DocList[CleanDoc]:
        out = DocList[CleanDoc]()
        for doc in docs:
            text = " ".join(doc.text.lower().split())
            out.append(CleanDoc(id=doc.id, text=text, words=len(text.split())))
        return out


class Embed(Executor):
    """A deterministic stand-in for a model: a unit vector derived from the text's hash."""

    @requests
    def embed(self, docs: DocList[CleanDoc], **kwargs) -> DocList[EmbeddedDoc]:
        out = DocList[EmbeddedDoc]()
        for doc in docs:
            seed = int.from_bytes(hashlib.sha256(doc.text.encode()).digest()[:4], "little")
            vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
            out.append(
                EmbeddedDoc(
                    id=doc.id, text=doc.text, words=doc.words, embedding=vector / np.linalg.norm(vector)
                )
            )
        return out


class Tag(Executor):
    """Tags each document as short or long."""

    def __init__(self, long_after: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.long_after = long_after

    @requests
    def tag(self, docs: DocList[EmbeddedDoc], **kwargs) -> DocList[TaggedDoc]:
        return DocList[TaggedDoc](
            TaggedDoc(
                id=doc.id,
                text=doc.text,
                words=doc.words,
                embedding=doc.embedding,
                tags={"size": "long" if doc.words > self.long_after else "short"},
            )
            for doc in docs
        )


class TextDocWithLanguage(BaseDoc):
    text: str = ""
    language: str


class EmbedExpectingLanguage(Executor):
    """A mistake the contract check catches: it requires ``language``, which Clean never sends."""

    @requests
    def embed(self, docs: DocList[TextDocWithLanguage], **kwargs) -> DocList[EmbeddedDoc]:
        return DocList[EmbeddedDoc]()


def pipeline(flow):
    """The pipeline on a Flow the caller built (so tests can bind it to a runtime)."""
    return (
        flow.add(uses=Clean, name="clean")
        .add(uses=Embed, name="embed", replicas=2)
        .add(uses=Tag, name="tag", uses_with={"long_after": 2})
    )
