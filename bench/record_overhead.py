"""What recording costs a gateway: per-request latency with ``record=`` off and on.

Run: ``python bench/record_overhead.py [requests] [docs_per_request]``. One Flow with a
pass-through Executor (thread runtime) is measured with recording off, then on, in
alternating rounds so that the machine's load affects both alike; the figure printed is the
median of the per-round medians.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import numpy as np
from docarray import BaseDoc, DocList
from docarray.typing import NdArray

from devkit import Client, Executor, Flow, requests


class Doc(BaseDoc):
    text: str = ""
    embedding: NdArray | None = None


class Passthrough(Executor):
    @requests
    def echo(self, docs: DocList[Doc], **kwargs) -> DocList[Doc]:
        return docs


def _round(client: Client, docs: DocList[Doc], count: int) -> float:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        client.post("/", docs, request_size=len(docs))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(count: int = 300, per_request: int = 16, rounds: int = 5) -> None:
    docs = DocList[Doc](
        [Doc(text=f"doc {i}", embedding=np.random.rand(128).astype(np.float32)) for i in range(per_request)]
    )
    with tempfile.TemporaryDirectory() as folder:
        flows = {
            "off": Flow(quiet=True).add(uses=Passthrough),
            "on": Flow(quiet=True, record=folder).add(uses=Passthrough),
        }
        medians: dict[str, list[float]] = {"off": [], "on": []}
        for flow in flows.values():
            flow.start()
        try:
            clients = {name: Client(host="127.0.0.1", port=flow.port) for name, flow in flows.items()}
            for client in clients.values():
                _round(client, docs, 20)  # warm up
            for _ in range(rounds):
                for name, client in clients.items():
                    medians[name].append(_round(client, docs, count))
        finally:
            for flow in flows.values():
                flow.close()
    off, on = statistics.median(medians["off"]), statistics.median(medians["on"])
    print(f"{per_request} docs of 128 float32 per request, {count} requests x {rounds} rounds")
    print(f"record off: {off * 1e6:8.0f} us per request")
    print(f"record on:  {on * 1e6:8.0f} us per request ({(on - off) * 1e6:+.0f} us)")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
