"""jina 3.34 measured the same way as devkit, run with a Python that has jina installed.

    <jina-python> bench/jina_case.py [--requests N] [--docs N] [--request-size N]

Prints one JSON object: start-up seconds, latency of sequential 1-document posts (p50, p99
in ms) and documents/second, for jina's own 2-Executor Flow (separate processes, jina's
defaults). ``bench/run.py --jina-python PATH`` runs it and prints the figures beside
devkit's. Nothing of devkit is imported here.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import time

os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")  # jina otherwise reports usage over the network
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

from docarray import BaseDoc, DocList
from jina import Executor, Flow, requests


class TextDoc(BaseDoc):
    text: str = ""


class SetText(Executor):
    @requests
    def set_text(self, docs: DocList[TextDoc], **kwargs):
        for doc in docs:
            doc.text = "hello world"


class Upper(Executor):
    @requests
    def upper(self, docs: DocList[TextDoc], **kwargs):
        for doc in docs:
            doc.text = doc.text.upper()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--request-size", type=int, default=100)
    args = parser.parse_args()

    started = time.perf_counter()
    with socket.socket() as probe:  # a port the OS just chose; jina wants one up front
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    flow = Flow(port=port).add(uses=SetText).add(uses=Upper)
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
