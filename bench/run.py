"""Benchmark devkit against bare grpcio on loopback, both measured in this run.

    python bench/run.py            # full run (about 2-3 minutes)
    python bench/run.py --quick    # fewer iterations, for a smoke check
    python bench/run.py --runtime thread --case deployment --no-mix
    python bench/run.py --tracing --no-mix   # each case again with tracing=True, side by side
    python bench/run.py --only-mix --payload text --payload image --jina-python PATH

Then the payload mix (bench/payloads.py: stock docarray text, embedding, image and nested
documents, and a local TextDoc as the control) through a 2-Executor Flow on each runtime,
beside jina 3.34's (``--jina-python``), and the codec's cost per document beside docarray's.

Absolute figures depend on the machine and its load; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

# Loopback must never go through a proxy from the environment.
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

import baseline
import codec_bench
import devkit_cases
import devkit_mix
import payloads
import report

LATENCY_TARGET = 1.5
DOCS_TARGET = 14_000


def measure_jina(python: str, requests: int, total_docs: int, size: int) -> dict[str, float]:
    """Run bench/jina_case.py with jina's Python; its figures as a dict."""
    script = pathlib.Path(__file__).with_name("jina_case.py")
    command = [python, str(script), "--requests", str(requests), "--docs", str(total_docs)]
    result = subprocess.run(
        [*command, "--request-size", str(size)], capture_output=True, text=True, timeout=900
    )
    if result.returncode != 0:
        raise SystemExit(f"measuring jina failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure_jina_mix(python: str, names: list[str], posts: int, scale: float) -> dict[str, dict[str, float]]:
    """Run bench/jina_case.py --mix with jina's Python; its figures per payload."""
    script = pathlib.Path(__file__).with_name("jina_case.py")
    command = [python, str(script), "--mix", ",".join(names), "--posts", str(posts), "--scale", str(scale)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"measuring jina's payload mix failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_mix(args: argparse.Namespace, runtimes: list[str]) -> None:
    """The payload mix on each runtime, then jina's in the same run, then the codec alone."""
    chosen = [p for p in payloads.PAYLOADS if not args.payload or p.name in args.payload]
    posts, scale = (50, 0.25) if args.quick else (200, 1.0)
    devkit = {
        runtime: {
            name: figures.as_dict()
            for name, figures in devkit_mix.measure(runtime, chosen, posts=posts, scale=scale).items()
        }
        for runtime in runtimes
    }
    jina = (
        measure_jina_mix(args.jina_python, [p.name for p in chosen], posts, scale)
        if args.jina_python
        else None
    )
    report.print_mix(devkit, jina)
    codec_bench.print_table({p.name: codec_bench.measure(p, 5 if args.quick else 20) for p in chosen})


def measure_traced(
    case: devkit_cases.Case, runtime: str, requests: int, total_docs: int, size: int
) -> baseline.Figures:
    """The case with ``tracing=True``: every span exported over OTLP/gRPC to a real receiver."""
    from devkit.testing.spans import OtlpReceiver

    receiver = OtlpReceiver().start()
    try:
        options = {
            "tracing": True,
            "traces_exporter_host": "http://127.0.0.1",
            "traces_exporter_port": receiver.port,
        }
        figures = devkit_cases.measure(
            case, runtime, requests=requests, total_docs=total_docs, docs_per_batch=size, options=options
        )
    finally:
        receiver.stop()
    if not receiver.spans.named("/jina.JinaSingleDataRequestRPC/process_single_data"):
        raise AssertionError(f"{case.name}/{runtime} with tracing=True exported no span")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer iterations (about 20 s)")
    parser.add_argument("--runtime", action="append", choices=["thread", "process"], help="default: both")
    parser.add_argument(
        "--case", action="append", help="default: every case (deployment, flow-2 when available)"
    )
    parser.add_argument("--requests", type=int, help="sequential 1-document posts (default 1000, quick 200)")
    parser.add_argument("--docs", type=int, help="documents for throughput (default 20000, quick 5000)")
    parser.add_argument("--request-size", type=int, default=100)
    parser.add_argument(
        "--jina-python", help="a Python with jina 3.34 installed: also measure jina's 2-Executor Flow"
    )
    parser.add_argument(
        "--mix", action=argparse.BooleanOptionalAction, default=True, help="measure the payload mix (default)"
    )
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="measure each case again with tracing=True, exporting to an OTLP receiver in this process",
    )
    parser.add_argument("--only-mix", action="store_true", help="only the payload mix (no bare-grpc floors)")
    parser.add_argument(
        "--payload",
        action="append",
        choices=[p.name for p in payloads.PAYLOADS],
        help="default: every payload",
    )
    args = parser.parse_args(argv)

    requests = args.requests or (200 if args.quick else 1000)
    total_docs = args.docs or (5_000 if args.quick else 20_000)
    size = args.request_size
    batches = total_docs // size
    runtimes = args.runtime or ["thread", "process"]
    chosen = (
        [] if args.only_mix else [c for c in devkit_cases.cases() if not args.case or c.name in args.case]
    )
    small, batch = devkit_cases.payloads(size)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s)", end="")
    print(f"; {requests} sequential 1-doc posts; {total_docs} docs in requests of {size}" if chosen else "")
    began = time.perf_counter()
    results: dict[str, tuple[baseline.Figures, baseline.Figures]] = {}
    traced: dict[str, tuple[baseline.Figures, baseline.Figures]] = {}  # case -> (tracing on, off)
    for case in chosen:
        for runtime in runtimes:
            floor = baseline.run(
                runtime,
                small,
                batch,
                depth=case.baseline_depth,
                requests=requests,
                batches=batches,
                docs_per_batch=size,
            )
            mine = devkit_cases.measure(
                case, runtime, requests=requests, total_docs=total_docs, docs_per_batch=size
            )
            title = f"{case.name} runtime={runtime} (floor: {case.baseline_depth} relay(s) + echo)"
            report.print_case(title, mine, floor)
            results[f"{case.name}/{runtime}"] = (mine, floor)
            if args.tracing:
                traced[f"{case.name}/{runtime}"] = (
                    measure_traced(case, runtime, requests, total_docs, size),
                    mine,
                )
    if results:
        report.print_targets(results, LATENCY_TARGET, DOCS_TARGET)
    if traced:
        report.print_tracing(traced)
    if args.jina_python and results:
        jina = measure_jina(args.jina_python, requests, total_docs, size)
        report.print_jina(
            jina, {key: mine for key, (mine, _) in results.items() if key.startswith("flow-2/")}
        )
    if "process" in runtimes and len(chosen) > 1:
        print("\nnote: devkit's process runtime starts children from a shared forkserver, so only the first")
        print("process case pays for starting it; the bare-grpc floor spawns a fresh interpreter per server.")
    if args.mix or args.only_mix:
        run_mix(args, runtimes)
    print(f"\nbench took {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
