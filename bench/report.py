"""Printing figures side by side with their baseline and the ratio devkit/baseline."""

from __future__ import annotations

import statistics

from baseline import Figures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _rows(devkit: Figures, floor: Figures) -> list[tuple[str, float, float, str]]:
    rows = [
        ("latency p50 (ms)", percentile(devkit.latencies_ms, 50), percentile(floor.latencies_ms, 50)),
        ("latency p99 (ms)", percentile(devkit.latencies_ms, 99), percentile(floor.latencies_ms, 99)),
        ("latency mean (ms)", statistics.fmean(devkit.latencies_ms), statistics.fmean(floor.latencies_ms)),
        ("throughput (docs/s)", devkit.docs_per_s, floor.docs_per_s),
    ]
    out = [(name, mine, base, f"{mine / base:.2f}x") for name, mine, base in rows]
    if devkit.startup_s is not None and floor.startup_s is not None:
        out.append(
            ("start-up (s)", devkit.startup_s, floor.startup_s, f"{devkit.startup_s / floor.startup_s:.1f}x")
        )
    return out


def print_case(title: str, devkit: Figures, floor: Figures) -> None:
    print(f"\n{title}")
    print(f"  {'':22}{'devkit':>12}{'bare grpc':>12}{'ratio':>9}")
    for name, mine, base, ratio in _rows(devkit, floor):
        print(f"  {name:22}{mine:12.{_digits(mine)}f}{base:12.{_digits(base)}f}{ratio:>9}")
    if floor.stream_call_ms:
        print(
            f"  (bare grpc with one bidi stream per request instead: p50 {percentile(floor.stream_call_ms, 50):.3f} ms)"
        )


def _digits(value: float) -> int:
    return 0 if value >= 1000 else 3


def print_targets(
    results: dict[str, tuple[Figures, Figures]], latency_target: float, docs_target: float
) -> None:
    """One line per measured case: is it within the project's targets?"""
    print(
        f"\ntargets: p50 latency <= {latency_target:.1f}x bare grpc, throughput >= {docs_target:,.0f} docs/s"
    )
    for title, (devkit, floor) in results.items():
        ratio = percentile(devkit.latencies_ms, 50) / percentile(floor.latencies_ms, 50)
        ok = ratio <= latency_target and devkit.docs_per_s >= docs_target
        print(f"  {title:28} p50 {ratio:.2f}x  {devkit.docs_per_s:>8,.0f} docs/s  {'ok' if ok else 'MISSED'}")


def print_jina(jina: dict[str, float], flows: dict[str, Figures]) -> None:
    """jina 3.34's 2-Executor Flow next to devkit's, measured in the same run."""
    print("\njina 3.34, 2-Executor Flow (its default: every Executor and the gateway in a process)")
    print(f"  {'':<24}{'jina':>10}" + "".join(f"{name:>22}" for name in flows))
    rows = [
        ("latency p50 (ms)", jina["p50_ms"], lambda f: percentile(f.latencies_ms, 50), True, ".3f"),
        ("latency p99 (ms)", jina["p99_ms"], lambda f: percentile(f.latencies_ms, 99), True, ".3f"),
        ("throughput (docs/s)", jina["docs_per_s"], lambda f: f.docs_per_s, False, ",.0f"),
        ("start-up (s)", jina["startup_s"], lambda f: f.startup_s or float("nan"), True, ".3f"),
    ]
    for label, theirs, pick, lower_is_better, spec in rows:
        cells = ""
        for figures in flows.values():
            mine = pick(figures)
            better = theirs / mine if lower_is_better else mine / theirs
            cells += f"{format(mine, spec):>13} ({better:>5.1f}x)"
        print(f"  {label:<24}{format(theirs, spec):>10}{cells}")
    print("  (x: how many times better devkit is)")
