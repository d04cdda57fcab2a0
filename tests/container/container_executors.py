"""Executors the container tests run: defined at module level, so a container can import them."""

from __future__ import annotations

import socket
from typing import Any

from docarray import BaseDoc, DocList

from devkit import Executor, requests


class WhereDoc(BaseDoc):
    text: str = ""
    hosts: list[str] = []


class Where(Executor):
    """Appends the host name it runs on (a container's is its id) and prints a greeting on start."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        print(f"Where is serving on {socket.gethostname()}", flush=True)

    @requests
    def where(self, docs: DocList[WhereDoc], **kwargs: Any) -> DocList[WhereDoc]:
        for doc in docs:
            doc.hosts.append(socket.gethostname())
        return docs


class BrokenAtStart(Executor):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        raise RuntimeError("the model file is missing")
