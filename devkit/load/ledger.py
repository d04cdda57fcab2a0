"""Where one request's time went, hop by hop, from what the response already carries.

The gateway stamps every response's ``routes``: its own start and end, and for each
Executor when it sent the request and when the answer came back. Workers asked for their
timings (:mod:`devkit.serve.hop_timing`) add how long they decoded, queued, ran the method
and encoded. The client knows its own round trip. Subtracting nested spans gives disjoint
hops whose sum is the client's latency (parallel branches overlap, so their hops may add
up to more):

* ``client``: client round trip minus the gateway's span (sending, the network both
  ways, the gateway's protocol front-end);
* ``gateway``: the gateway's span outside every Executor call (topology walk, merging);
* ``<executor> transport``: an Executor call minus the worker's own time (network and gRPC
  both ways, the worker's gRPC server): where an injected edge latency shows up;
* ``<executor> queue`` / ``<executor> method``: waiting for the Executor, running it;
* ``codec``: decoding and encoding documents, in the workers and the client (and an HTTP
  gateway's decoding of the request's JSON; its encoding of the answer stays in ``client``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devkit.serve.hop_timing import GATEWAY_ENTRY

__all__ = ["HOP_KINDS", "LedgerRow", "hops_of", "percentile", "summarise"]

#: What each kind of hop covers, for reports.
HOP_KINDS = {
    "client": "client send/receive, client<->gateway network, gateway front-end",
    "gateway": "gateway topology walk outside Executor calls",
    "transport": "gateway<->Executor network and gRPC",
    "queue": "waiting in the Executor for its thread or a batch",
    "method": "the Executor method",
    "call": "the whole Executor call (the worker sent no timings)",
    "codec": "document decode/encode in workers and client",
}


@dataclass(frozen=True)
class LedgerRow:
    """One hop across the run: per-request mean, median and p99 in ms, and its share of
    the mean end-to-end latency."""

    hop: str
    kind: str
    mean_ms: float
    p50_ms: float
    p99_ms: float
    share: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "hop": self.hop,
            "kind": self.kind,
            "mean_ms": round(self.mean_ms, 4),
            "p50_ms": round(self.p50_ms, 4),
            "p99_ms": round(self.p99_ms, 4),
            "share": round(self.share, 4),
        }


def _ns(stamp: Any) -> int:
    return int(stamp.seconds) * 1_000_000_000 + int(stamp.nanos)


def _union(spans: Iterable[tuple[int, int]]) -> int:
    """Total length covered by possibly overlapping ``(start, end)`` spans."""
    covered, reach = 0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            covered += end - start
            reach = end
        elif end > reach:
            covered += end - reach
            reach = end
    return covered


def _worker_entry(name: str, entries: Mapping[str, Any]) -> Mapping[str, float] | None:
    """The timings a replica of Executor ``name`` reported (``name/rep-0``, shard ``name-1/rep-0``);
    of several shards, the slowest (they ran in parallel)."""
    found: list[Mapping[str, float]] = []
    for key, entry in entries.items():
        base = key.split("/rep-", 1)[0]
        head, _, shard = base.rpartition("-")
        if (base == name or (head == name and shard.isdigit())) and isinstance(entry, Mapping):
            found.append(entry)
    return max(found, key=lambda e: float(e.get("total", 0.0))) if found else None


def hops_of(
    routes: Sequence[Any], worker_entries: Mapping[str, Any], client_ns: int, client_codec_ns: int
) -> dict[str, tuple[str, int]]:
    """One request's hops: name -> (kind, nanoseconds). ``client_ns`` is the round trip the
    client measured, ``client_codec_ns`` the part of it spent decoding (both its own)."""
    hops: dict[str, tuple[str, int]] = {}
    gateway = next((r for r in routes if r.executor == "gateway"), None)
    calls = [r for r in routes if r.executor != "gateway" and r.HasField("end_time")]
    codec = client_codec_ns
    if gateway is None or not gateway.HasField("end_time"):  # a lone Executor, or a foreign server
        return _without_gateway(worker_entries, client_ns, client_codec_ns)
    gateway_ns = _ns(gateway.end_time) - _ns(gateway.start_time)
    front = worker_entries.get(GATEWAY_ENTRY)  # an HTTP front-end's JSON decode
    front_ns = int(front.get("decode", 0.0)) if isinstance(front, Mapping) else 0
    codec += front_ns
    hops["client"] = ("client", max(0, client_ns - client_codec_ns - front_ns - gateway_ns))
    spans = [(_ns(r.start_time), _ns(r.end_time)) for r in calls]
    hops["gateway"] = ("gateway", max(0, gateway_ns - _union(spans)))
    for route, (start, end) in zip(calls, spans, strict=True):
        name, span = route.executor, end - start
        entry = _worker_entry(name, worker_entries)
        if entry is None:
            hops[f"{name} call"] = ("call", span)
            continue
        total = int(entry.get("total", 0.0))
        hops[f"{name} transport"] = ("transport", max(0, span - total))
        hops[f"{name} queue"] = ("queue", int(entry.get("queue", 0.0)))
        hops[f"{name} method"] = ("method", int(entry.get("method", 0.0)))
        codec += int(entry.get("decode", 0.0)) + int(entry.get("encode", 0.0))
    hops["codec"] = ("codec", codec)
    return hops


def _without_gateway(
    worker_entries: Mapping[str, Any], client_ns: int, client_codec_ns: int
) -> dict[str, tuple[str, int]]:
    """A worker dialled directly: its own timings, the rest of the round trip is the client's."""
    entries = [
        (key, entry)
        for key, entry in worker_entries.items()
        if isinstance(entry, Mapping) and key != GATEWAY_ENTRY
    ]
    if len(entries) != 1:
        return {
            "client": ("client", max(0, client_ns - client_codec_ns)),
            "codec": ("codec", client_codec_ns),
        }
    key, entry = entries[0]
    name = key.split("/rep-", 1)[0]
    total = int(entry.get("total", 0.0))
    codec = client_codec_ns + int(entry.get("decode", 0.0)) + int(entry.get("encode", 0.0))
    return {
        "client": ("client", max(0, client_ns - client_codec_ns - total)),
        f"{name} queue": ("queue", int(entry.get("queue", 0.0))),
        f"{name} method": ("method", int(entry.get("method", 0.0))),
        "codec": ("codec", codec),
    }


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0.0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return float(ordered[rank])


def summarise(
    per_request: Sequence[Mapping[str, tuple[str, int]]], mean_latency_ms: float
) -> list[LedgerRow]:
    """Rows in first-seen hop order; a hop a request did not take counts 0 for it."""
    kinds: dict[str, str] = {}
    for hops in per_request:
        for name, (kind, _) in hops.items():
            kinds.setdefault(name, kind)
    codec = kinds.pop("codec", None)  # listed last, after the Executors
    if codec is not None:
        kinds["codec"] = codec
    rows = []
    count = len(per_request)
    for name, kind in kinds.items():
        values = sorted(hops[name][1] / 1e6 if name in hops else 0.0 for hops in per_request)
        mean = sum(values) / count if count else 0.0
        rows.append(
            LedgerRow(
                hop=name,
                kind=kind,
                mean_ms=mean,
                p50_ms=percentile(values, 0.5),
                p99_ms=percentile(values, 0.99),
                share=mean / mean_latency_ms if mean_latency_ms > 0 else 0.0,
            )
        )
    return rows
