"""jina 3.34 measured the same way as devkit, run with a Python that has jina installed.

    <jina-python> bench/jina_case.py [--requests N] [--docs N] [--request-size N]
    <jina-python> bench/jina_case.py --mix text,embedding,image,nested,control [--posts N] [--scale F]

Prints one JSON object: start-up seconds, latency of sequential 1-document posts (p50, p99
in ms) and documents/second, for jina's own 2-Executor Flow (separate processes, jina's
defaults); with ``--mix``, the payload mix's figures per payload (bench/payloads.py).
``bench/run.py --jina-python PATH`` runs it and prints the figures beside devkit's. Nothing
of devkit is imported here.
"""

# No ``from __future__ import annotations`` here: jina reads an endpoint's type hints as
# objects (string hints make it decode into its legacy document instead), and it needs the
# return annotation too, to check that one Executor's output fits the next one's input.
import argparse
import json
import os
import socket
import statistics
import time

os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")  # jina otherwise reports usage over the network
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

from docarray import BaseDoc, DocList
from docarray.documents import ImageDoc
from docarray.documents import TextDoc as StockTextDoc
from jina import Executor, Flow, requests
from payloads import PAYLOADS, Page, PlainTextDoc, first, measure_payload, second


class TextDoc(BaseDoc):
    text: str = ""


class SetText(Executor):
    @requests
    def set_text(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = "hello world"
        return docs


class Upper(Executor):
    @requests
    def upper(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper()
        return docs


class MixFirst(Executor):
    @requests(on="/text")
    def text(self, docs: DocList[StockTextDoc], **kwargs) -> DocList[StockTextDoc]:
        first("text", docs)
        return docs

    @requests(on="/embedding")
    def embedding(self, docs: DocList[StockTextDoc], **kwargs) -> DocList[StockTextDoc]:
        first("embedding", docs)
        return docs

    @requests(on="/image")
    def image(self, docs: DocList[ImageDoc], **kwargs) -> DocList[ImageDoc]:
        first("image", docs)
        return docs

    @requests(on="/nested")
    def nested(self, docs: DocList[Page], **kwargs) -> DocList[Page]:
        first("nested", docs)
        return docs

    @requests(on="/control")
    def control(self, docs: DocList[PlainTextDoc], **kwargs) -> DocList[PlainTextDoc]:
        first("control", docs)
        return docs


class MixSecond(Executor):
    @requests(on="/text")
    def text(self, docs: DocList[StockTextDoc], **kwargs) -> DocList[StockTextDoc]:
        second("text", docs)
        return docs

    @requests(on="/embedding")
    def embedding(self, docs: DocList[StockTextDoc], **kwargs) -> DocList[StockTextDoc]:
        second("embedding", docs)
        return docs

    @requests(on="/image")
    def image(self, docs: DocList[ImageDoc], **kwargs) -> DocList[ImageDoc]:
        second("image", docs)
        return docs

    @requests(on="/nested")
    def nested(self, docs: DocList[Page], **kwargs) -> DocList[Page]:
        second("nested", docs)
        return docs

    @requests(on="/control")
    def control(self, docs: DocList[PlainTextDoc], **kwargs) -> DocList[PlainTextDoc]:
        second("control", docs)
        return docs


def _free_port() -> int:
    with socket.socket() as probe:  # a port the OS just chose; jina wants one up front
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def mix(names: list[str], posts: int, scale: float) -> None:
    chosen = [payload for payload in PAYLOADS if payload.name in names]
    with Flow(port=_free_port()).add(uses=MixFirst).add(uses=MixSecond) as flow:
        figures = {p.name: measure_payload(flow, p, posts=posts, scale=scale).as_dict() for p in chosen}
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--request-size", type=int, default=100)
    parser.add_argument("--mix", help="comma-separated payloads: measure the payload mix instead")
    parser.add_argument("--posts", type=int, default=300, help="1-document posts per payload (--mix)")
    parser.add_argument("--scale", type=float, default=1.0, help="share of each payload's documents (--mix)")
    args = parser.parse_args()
    if args.mix:
        mix(args.mix.split(","), args.posts, args.scale)
        return

    started = time.perf_counter()
    flow = Flow(port=_free_port()).add(uses=SetText).add(uses=Upper)
    with flow:
        startup = time.perf_counter() - started
        one = DocList[TextDoc]([TextDoc(text="x")])
        for _ in range(20):
            flow.post("/", one, return_type=DocList[TextDoc])
        took: list[float] = []
        for _ in range(args.requests):
            began = time.perf_counter()
            flow.post("/", one, return_type=DocList[TextDoc])
            took.append(time.perf_counter() - began)
        many = DocList[TextDoc]([TextDoc(text="x") for _ in range(args.docs)])
        began = time.perf_counter()
        out = flow.post("/", many, return_type=DocList[TextDoc], request_size=args.request_size)
        elapsed = time.perf_counter() - began
        assert len(out) == args.docs and out[0].text == "HELLO WORLD"
    took.sort()
    print(
        json.dumps(
            {
                "startup_s": startup,
                "p50_ms": statistics.median(took) * 1000,
                "p99_ms": took[int(len(took) * 0.99) - 1] * 1000,
                "docs_per_s": args.docs / elapsed,
            }
        )
    )


if __name__ == "__main__":
    main()
