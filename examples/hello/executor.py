"""Two small Executors with typed document schemas.

``Shout`` upper-cases text; ``WordCounter`` counts the words and tags the longest one.
Served alone (deployment.yml, shout.yml) or chained in a Flow (flow.yml).
"""

from __future__ import annotations

from typing import Any

from docarray import BaseDoc, DocList

from devkit import Executor, requests


class TextDoc(BaseDoc):
    """What a client sends: some text."""

    text: str = ""


class CountedDoc(TextDoc):
    """What ``WordCounter`` returns: the text plus what it found in it."""

    words: int = 0
    longest_word: str = ""


class Shout(Executor):
    """Upper-cases every document's text and appends ``suffix``."""

    def __init__(self, suffix: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suffix = suffix

    @requests
    def shout(self, docs: DocList[TextDoc], **kwargs: Any) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper() + self.suffix
        return docs


class WordCounter(Executor):
    """Counts the words of every document and records the longest one."""

    @requests
    def count(self, docs: DocList[TextDoc], **kwargs: Any) -> DocList[CountedDoc]:
        counted = DocList[CountedDoc]()
        for doc in docs:
            words = doc.text.split()
            longest = max(words, key=len, default="")
            counted.append(CountedDoc(id=doc.id, text=doc.text, words=len(words), longest_word=longest))
        return counted
