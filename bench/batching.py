"""Dynamic batching's gain: 64 concurrent 1-document clients against an Executor with a fixed cost per call.

    python bench/batching.py [--quick] [--clients 64] [--requests 20]

The Executor (process runtime) costs 2 ms per call plus 10 us per document, like a model
whose forward pass has a fixed overhead. One Deployment serves it twice: ``/plain`` (one
call per request) and ``/batched`` (``@dynamic_batching(preferred_batch_size=64,
timeout=5)``). Each client posts ``--requests`` 1-document requests one after the other;
the same run measures both endpoints, so compare their ratio: documents/s, p50 and p99
latency per request, and the mean batch the Executor received.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

from docarray import BaseDoc, DocList

from devkit import AsyncClient, Deployment, Executor, dynamic_batching, requests

FIXED_S = 0.002  # per call
PER_DOC_S = 10e-6  # per document


class TextDoc(BaseDoc):
    text: str = ""


def _work(docs: DocList[TextDoc]) -> None:
    time.sleep(FIXED_S + PER_DOC_S * len(docs))
    for doc in docs:
        doc.text = str(len(docs))  # tells the client the size of the batch its document was in


class FixedCost(Executor):
    @requests(on="/plain")
    def plain(self, docs: DocList[TextDoc], **kwargs) -> None:
        _work(docs)

    @requests(on="/batched")
    @dynamic_batching(preferred_batch_size=64, timeout=5)
    def batched(self, docs: DocList[TextDoc], **kwargs) -> None:
        _work(docs)


async def _load(port: int, endpoint: str, clients: int, per_client: int) -> dict[str, float]:
    latencies: list[float] = []
    batch_sizes: list[int] = []

    async def client_loop() -> None:
        async with AsyncClient(host="127.0.0.1", port=port) as client:
            for i in range(per_client):
                begin = time.perf_counter()
                async for docs in client.post(endpoint, DocList[TextDoc]([TextDoc(text=str(i))])):
                    batch_sizes.extend(int(doc.text) for doc in docs)
                latencies.append((time.perf_counter() - begin) * 1e3)

    begin = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    elapsed = time.perf_counter() - begin
    latencies.sort()
    return {
        "docs_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "mean_batch": statistics.fmean(batch_sizes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=20, help="1-document requests per client")
    parser.add_argument("--quick", action="store_true", help="5 requests per client")
    args = parser.parse_args()
    per_client = 5 if args.quick else args.requests

    with Deployment(uses=FixedCost, runtime="process", port=0, host="127.0.0.1", quiet=True) as dep:
        for endpoint in ("/plain", "/batched"):  # warm-up: connections, the Executor's thread
            asyncio.run(_load(dep.port, endpoint, 4, 2))
        results = {
            endpoint: asyncio.run(_load(dep.port, endpoint, args.clients, per_client))
            for endpoint in ("/plain", "/batched")
        }

    print(
        f"{args.clients} clients x {per_client} 1-document requests; Executor costs "
        f"{FIXED_S * 1e3:g} ms + {PER_DOC_S * 1e6:g} us/document per call\n"
    )
    print("| endpoint | documents/s | p50 ms | p99 ms | mean batch |")
    print("| --- | --- | --- | --- | --- |")
    for endpoint, row in results.items():
        print(
            f"| {endpoint} | {row['docs_per_s']:,.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
            f"| {row['mean_batch']:.1f} |"
        )
    plain, batched = results["/plain"], results["/batched"]
    print(
        f"\ndynamic batching: {batched['docs_per_s'] / plain['docs_per_s']:.1f}x the documents/s, "
        f"p50 {plain['p50_ms'] / batched['p50_ms']:.1f}x lower"
    )


if __name__ == "__main__":
    main()
