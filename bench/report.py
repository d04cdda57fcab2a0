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


def print_tracing(traced: dict[str, tuple[Figures, Figures]]) -> None:
    """Each case with tracing on beside the same case with it off, from this run."""
    print("\ntracing (tracing=True, spans exported over OTLP/gRPC to a receiver in this process)")
    print(
        f"  {'':28}{'p50 off':>10}{'p50 on':>10}{'ratio':>8}{'docs/s off':>13}{'docs/s on':>12}{'ratio':>8}"
    )
    for title, (on, off) in traced.items():
        p50_off, p50_on = percentile(off.latencies_ms, 50), percentile(on.latencies_ms, 50)
        print(
            f"  {title:28}{p50_off:10.3f}{p50_on:10.3f}{p50_on / p50_off:7.2f}x"
            f"{off.docs_per_s:13,.0f}{on.docs_per_s:12,.0f}{on.docs_per_s / off.docs_per_s:7.2f}x"
        )


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


#: The issue's targets for the payload mix: docs/s at least this many times jina's ...
MIX_SPEEDUP_TARGETS = {"text": 5.0, "embedding": 5.0, "nested": 5.0, "image": 3.0}
#: ... and CPU microseconds per document on the thread runtime at most this.
MIX_CPU_TARGETS = {"text": 150.0, "embedding": 250.0, "nested": 900.0}


def print_mix(
    devkit: dict[str, dict[str, dict[str, float]]], jina: dict[str, dict[str, float]] | None
) -> None:
    """The payload mix, per payload: devkit per runtime beside jina (when measured) and the targets.

    ``devkit``: runtime -> payload -> figures; figures hold ``docs_per_s``, ``p50_ms``, ``cpu_us_per_doc``.
    """
    print("\npayload mix: 2-Executor Flow, stock docarray documents (CPU: us per document over the")
    print("client, the gateway and both Executors; x: how many times better than jina)")
    head = f"  {'payload':<11}"
    if jina:
        head += f"{'jina docs/s':>12}{'p50 ms':>8}{'cpu us':>8}"
    for runtime in devkit:
        head += f"{runtime + ' docs/s':>22}{'p50 ms':>15}{'cpu us':>15}"
    print(head)
    for name in next(iter(devkit.values())):
        theirs = (jina or {}).get(name)
        line = f"  {name:<11}"
        if jina:
            line += (
                f"{theirs['docs_per_s']:>12,.0f}{theirs['p50_ms']:>8.2f}{theirs['cpu_us_per_doc']:>8.0f}"
                if theirs
                else f"{'-':>12}{'-':>8}{'-':>8}"
            )
        for figures in devkit.values():
            mine = figures[name]
            if theirs:
                line += (
                    f"{mine['docs_per_s']:>13,.0f} ({mine['docs_per_s'] / theirs['docs_per_s']:>5.1f}x)"
                    f"{mine['p50_ms']:>8.2f} ({theirs['p50_ms'] / mine['p50_ms']:>4.1f}x)"
                    f"{mine['cpu_us_per_doc']:>8.0f} ({theirs['cpu_us_per_doc'] / mine['cpu_us_per_doc']:>4.1f}x)"
                )
            else:
                line += f"{mine['docs_per_s']:>22,.0f}{mine['p50_ms']:>15.2f}{mine['cpu_us_per_doc']:>15.0f}"
        print(line)
    _print_mix_targets(devkit, jina)


def _print_mix_targets(
    devkit: dict[str, dict[str, dict[str, float]]], jina: dict[str, dict[str, float]] | None
) -> None:
    print("  targets (same run):")
    for runtime, figures in devkit.items():
        for name, target in MIX_SPEEDUP_TARGETS.items():
            if jina and name in jina and name in figures:
                ratio = figures[name]["docs_per_s"] / jina[name]["docs_per_s"]
                verdict = "ok" if ratio >= target else "MISSED"
                print(f"    {runtime:<8} {name:<10} docs/s {ratio:5.1f}x jina (>= {target:.0f}x)  {verdict}")
    for name, budget in MIX_CPU_TARGETS.items():
        if "thread" in devkit and name in devkit["thread"]:
            cpu = devkit["thread"][name]["cpu_us_per_doc"]
            verdict = "ok" if cpu <= budget else "MISSED"
            print(f"    thread   {name:<10} CPU {cpu:6.0f} us/doc (<= {budget:.0f})  {verdict}")
