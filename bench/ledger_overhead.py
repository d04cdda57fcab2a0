"""What the load generator's ledger costs: the check every request pays, and the timings
a request that asks for them pays.

Run: ``python bench/ledger_overhead.py [requests] [docs_per_request]``. First the check a
worker makes on every request (``wants_ledger``) is timed alone; then a Flow of two
pass-through Executors (thread runtime) is posted to without and with the ledger asked
for, in alternating rounds so that the machine's load affects both alike; the figure
printed is the median of the per-round medians.
"""

from __future__ import annotations

import statistics
import sys
import time
import timeit

from docarray import BaseDoc, DocList

from devkit import Client, Executor, Flow, requests
from devkit.proto import jina_pb2
from devkit.serve.hop_timing import LEDGER_KEY, wants_ledger
from devkit.wire import set_parameters


class Doc(BaseDoc):
    text: str = ""


class Passthrough(Executor):
    @requests
    def echo(self, docs: DocList[Doc], **kwargs) -> DocList[Doc]:
        return docs


def _check_ns() -> tuple[float, float]:
    bare = jina_pb2.DataRequestProto()
    with_parameters = jina_pb2.DataRequestProto()
    set_parameters(with_parameters, {"top_k": 3, "mode": "fast"})
    runs = 200_000
    return tuple(  # type: ignore[return-value]
        min(timeit.repeat(lambda r=request: wants_ledger(r), number=runs, repeat=5)) / runs * 1e9
        for request in (bare, with_parameters)
    )


def _round(client: Client, docs: DocList[Doc], count: int, parameters: dict | None) -> float:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        client.post("/", docs, parameters=parameters, request_size=len(docs))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(count: int = 300, per_request: int = 4, rounds: int = 5) -> None:
    bare_ns, parameters_ns = _check_ns()
    print(f"wants_ledger: {bare_ns:.0f} ns on a request without parameters, {parameters_ns:.0f} ns with some")
    docs = DocList[Doc]([Doc(text=f"doc {i}") for i in range(per_request)])
    modes = {"off": None, "on": {LEDGER_KEY: {}}}
    medians: dict[str, list[float]] = {name: [] for name in modes}
    with Flow(quiet=True).add(uses=Passthrough, name="a").add(uses=Passthrough, name="b") as flow:
        client = Client(host="127.0.0.1", port=flow.port)
        for parameters in modes.values():
            _round(client, docs, 20, parameters)  # warm up
        for _ in range(rounds):
            for name, parameters in modes.items():
                medians[name].append(_round(client, docs, count, parameters))
    off, on = statistics.median(medians["off"]), statistics.median(medians["on"])
    print(f"{per_request} docs per request through 2 Executors, {count} requests x {rounds} rounds")
    print(f"ledger not asked: {off * 1e6:8.0f} us per request")
    print(f"ledger asked:     {on * 1e6:8.0f} us per request ({(on - off) * 1e6:+.0f} us)")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
