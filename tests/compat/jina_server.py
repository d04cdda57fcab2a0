"""A jina 3.34 Deployment or Flow run by the compat tests with the jina environment's python.

Usage: ``python jina_server.py deployment|flow|executor [grpc|http|websocket]``
(``executor``: a Deployment without a gateway, so the port is the Executor's own, as an
external Executor of a Flow is served). It serves on 127.0.0.1 on a port
the OS chose, prints ``READY <port>`` once it answers, and stops when its standard
input closes. This file runs under jina's environment only; it never imports devkit.
"""

import os
import socket
import sys

os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")  # never phone home from a test

from docarray import BaseDoc, DocList
from docarray.typing import NdArray
from jina import Deployment, Executor, Flow, requests


class TextDoc(BaseDoc):
    text: str = ""
    n: int = 0
    embedding: NdArray | None = None


class Shout(Executor):
    """Upper-cases texts, appends ``parameters['suffix']``, counts characters."""

    @requests(on="/shout")
    def shout(self, docs: DocList[TextDoc], parameters: dict, **kwargs) -> DocList[TextDoc]:
        suffix = parameters.get("suffix", "")
        for doc in docs:
            doc.text = doc.text.upper() + suffix
            doc.n = len(doc.text)
            if doc.embedding is not None:
                doc.embedding = doc.embedding * 2
        return docs

    @requests(on="/stats")
    def stats(self, docs: DocList[TextDoc], parameters: dict, **kwargs) -> DocList[TextDoc]:
        # a dict return becomes parameters["__results__"]; jina wants a DocList annotation all the same
        return {"count": len(docs), "echo": parameters.get("echo")}

    @requests(on="/boom")
    def boom(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        raise ValueError("jina executor exploded")


class StreamingShout(Shout):
    """The Deployment's Executor: Shout plus a streaming endpoint (jina streams only from
    a Deployment or a one-Executor Flow, so the two-Executor Flow uses plain Shout)."""

    @requests(on="/gen")
    async def gen(self, doc: TextDoc, **kwargs) -> TextDoc:
        for i in range(3):
            yield TextDoc(text=f"{doc.text}-{i}", n=i)


class Tag(Executor):
    """Second step of the Flow: appends ``!`` and records its name in ``n``."""

    @requests(on="/shout")
    def tag(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text + "!"
            doc.n = doc.n + 1000
        return docs

    @requests(on=["/stats", "/boom"])
    def passthrough(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        # jina's Flow wants every endpoint of "shouter" served by the Executor after it
        return docs


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build(kind: str, port: int, protocol: str):
    if kind == "deployment":
        return Deployment(uses=StreamingShout, name="shouter", host="127.0.0.1", port=port, protocol=protocol)
    if kind == "executor":
        return Deployment(uses=Shout, name="shouter", host="127.0.0.1", port=port, include_gateway=False)
    if kind == "flow":
        return (
            Flow(host="127.0.0.1", port=port, protocol=protocol)
            .add(uses=Shout, name="shouter")
            .add(uses=Tag, name="tagger")
        )
    raise SystemExit(f"unknown kind {kind!r}: use deployment, flow or executor")


def main() -> int:
    kind = sys.argv[1]
    protocol = sys.argv[2] if len(sys.argv) > 2 else "grpc"
    port = free_port()
    with build(kind, port, protocol):
        sys.stdout.write(f"READY {port}\n")
        sys.stdout.flush()
        sys.stdin.read()  # serve until the test closes our standard input
    return 0


if __name__ == "__main__":
    sys.exit(main())
