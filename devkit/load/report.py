"""The outcome of a load run: throughput, latency percentiles, errors by kind, the ledger."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from devkit.load.driver import Sample
from devkit.load.ledger import LedgerRow, percentile, summarise
from devkit.load.spec import LoadSpec

__all__ = ["BUSY_CLIENT", "LoadReport", "build_report"]

#: The share of a core above which the report warns that the load generator is saturated.
BUSY_CLIENT = 0.85


@dataclass(frozen=True)
class LoadReport:
    """What :func:`devkit.load.run` measured. ``samples`` keeps every request (for plots)."""

    target: str
    protocol: str
    endpoint: str
    concurrency: int
    request_size: int
    requests: int
    ok: int
    errors_by_kind: dict[str, int]
    elapsed_s: float
    latency_ms: dict[str, float]
    ledger: list[LedgerRow]
    samples: list[Sample] = field(repr=False, default_factory=list)
    #: the load generator's CPU time over the run's length: near 1.0 (a whole core) its own
    #: queueing swells the ``client`` hop, and the figures say more about it than the target
    client_cpu: float = 0.0

    @property
    def errors(self) -> int:
        return self.requests - self.ok

    @property
    def throughput(self) -> float:
        """Answered requests per second (errors included: they were answered too)."""
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def row(self, hop: str) -> LedgerRow:
        """The ledger row of ``hop`` (``'b transport'``, ``'client'``...)."""
        for row in self.ledger:
            if row.hop == hop:
                return row
        raise KeyError(f"no hop {hop!r} in the ledger; hops: {', '.join(r.hop for r in self.ledger)}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``devkit load --json`` prints (samples left out)."""
        return {
            "target": self.target,
            "protocol": self.protocol,
            "endpoint": self.endpoint,
            "concurrency": self.concurrency,
            "request_size": self.request_size,
            "requests": self.requests,
            "ok": self.ok,
            "errors": {"total": self.errors, "by_kind": dict(self.errors_by_kind)},
            "elapsed_s": round(self.elapsed_s, 4),
            "throughput_rps": round(self.throughput, 3),
            "latency_ms": {key: round(value, 4) for key, value in self.latency_ms.items()},
            "ledger": [row.to_dict() for row in self.ledger],
            "client_cpu": round(self.client_cpu, 3),
        }

    def format(self) -> str:
        """The human-readable report ``devkit load`` prints."""
        lat = self.latency_ms
        lines = [
            f"devkit load: {self.endpoint} on {self.target} over {self.protocol}, "
            f"{self.concurrency} concurrent, {self.request_size} docs/request",
            f"  requests   {self.requests} in {self.elapsed_s:.2f} s ({self.ok} ok, {self.errors} errors), "
            f"{self.throughput:.1f} req/s",
            f"  latency    p50 {lat['p50']:.2f} ms   p90 {lat['p90']:.2f} ms   p99 {lat['p99']:.2f} ms   "
            f"max {lat['max']:.2f} ms",
        ]
        if self.client_cpu >= BUSY_CLIENT:
            lines.append(
                f"  note       the load generator used {self.client_cpu:.0%} of a core: the client hop "
                "includes its own queueing; lower --concurrency or run it on another machine"
            )
        if self.errors_by_kind:
            lines.append(
                "  errors     " + ", ".join(f"{n} {kind}" for kind, n in self.errors_by_kind.items())
            )
        if self.ledger:
            lines.append(f"  where the time went (per answered request, mean {lat['mean']:.2f} ms):")
            width = max(len(row.hop) for row in self.ledger)
            lines.append(f"    {'hop':<{width}}  {'mean ms':>8}  {'p50 ms':>8}  {'p99 ms':>8}  {'share':>6}")
            for row in self.ledger:
                bar = "#" * round(min(row.share, 1.0) * 30)
                lines.append(
                    f"    {row.hop:<{width}}  {row.mean_ms:>8.3f}  {row.p50_ms:>8.3f}  {row.p99_ms:>8.3f}  "
                    f"{row.share:>6.1%}  {bar}".rstrip()
                )
        return "\n".join(lines)


def build_report(
    samples: Sequence[Sample],
    elapsed_ns: int,
    spec: LoadSpec,
    *,
    target: str,
    protocol: str,
    client_cpu: float = 0.0,
) -> LoadReport:
    ordered = sorted(samples, key=lambda s: s.sent_ns)
    answered = [s for s in ordered if s.error is None]
    latencies = sorted(s.latency_ns / 1e6 for s in answered)
    mean = sum(latencies) / len(latencies) if latencies else 0.0
    kinds = Counter(s.error for s in ordered if s.error is not None)
    return LoadReport(
        target=target,
        protocol=protocol,
        endpoint=spec.endpoint,
        concurrency=spec.concurrency,
        request_size=spec.request_size,
        requests=len(ordered),
        ok=len(answered),
        errors_by_kind=dict(kinds.most_common()),
        elapsed_s=elapsed_ns / 1e9,
        latency_ms={
            "p50": percentile(latencies, 0.5),
            "p90": percentile(latencies, 0.9),
            "p99": percentile(latencies, 0.99),
            "mean": mean,
            "max": latencies[-1] if latencies else 0.0,
        },
        ledger=summarise([s.hops for s in answered if s.hops is not None], mean),
        samples=ordered,
        client_cpu=client_cpu,
    )
