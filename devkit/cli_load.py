"""``devkit load``: put load on a Flow (started from its YAML) or a running address, and
report throughput, latency percentiles, errors by kind and where the time went per hop.

A YAML file is started as ``devkit serve`` starts it (a Flow, a Deployment or an Executor
class; in child processes unless the YAML or ``--runtime`` says otherwise) and stopped after.

Exit code 0 when every request was answered without error, 1 otherwise (or when the run
could not start), so a CI job fails on errors under load.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from devkit.cli_input import positive_int, seconds, yaml_file

__all__ = ["LOAD_COMMANDS", "add_load_command", "run_load_command"]

LOAD_COMMANDS = ("load",)


def _duration(text: str) -> float:
    from devkit.load.spec import parse_duration

    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration above 0 such as 30s, got {text!r}")
    return value


def add_load_command(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    load = commands.add_parser(
        "load",
        parents=parents,
        help="put load on a Flow or a running gateway; report latency and where the time went per hop",
    )
    load.add_argument(
        "target",
        metavar="TARGET",
        help="a flow.yml (started and stopped here) or an address (grpc://host:port)",
    )
    load.add_argument("--endpoint", default="/", help="the endpoint to post to (default: /)")
    load.add_argument("--concurrency", type=positive_int, default=8, help="requests in flight (default: 8)")
    load.add_argument(
        "--duration", type=_duration, default=None, help="stop sending after this long: 30s, 500ms, 2m"
    )
    load.add_argument("--requests", type=positive_int, default=None, help="stop after sending this many")
    load.add_argument(
        "--request-size",
        type=positive_int,
        default=1,
        metavar="DOCS",
        help="documents per request (default: 1)",
    )
    load.add_argument(
        "--protocol", choices=("grpc", "http", "websocket"), default=None, help="default: the gateway's first"
    )
    load.add_argument(
        "--docs", metavar="FILE", default=None, help="send these documents (a JSON array or JSON lines)"
    )
    load.add_argument(
        "--timeout", type=seconds, default=30.0, metavar="SECONDS", help="per request (default: 30)"
    )
    load.add_argument(
        "--warmup", type=int, default=0, metavar="N", help="requests sent before measuring (default: 0)"
    )
    load.add_argument("--seed", type=int, default=0, help="seed for drawing documents (default: 0)")
    load.add_argument(
        "--runtime",
        choices=("thread", "process", "container"),
        default=None,
        help="how to run a YAML's servers, as `devkit serve` does (default: the YAML's, else process: "
        "the load generator then shares no interpreter with them)",
    )
    load.add_argument("--json", action="store_true", help="print the report as JSON (for CI)")
    load.add_argument("--plot", metavar="OUT.svg", default=None, help="write latency over time as SVG")


def run_load_command(args: argparse.Namespace) -> int:
    from devkit.load import LoadSpec, run, write_latency_svg

    target: Any = args.target
    if target.endswith((".yml", ".yaml", ".py")):
        from devkit.cli import FileCommand
        from devkit.cli_build import check_ports_free, file_orchestrator

        target = file_orchestrator(FileCommand("serve", yaml_file(target, "load"), None, None, args.runtime))
        check_ports_free(target)
    duration = args.duration if args.duration is not None or args.requests is not None else 10.0
    spec = LoadSpec(
        endpoint=args.endpoint,
        concurrency=args.concurrency,
        duration=duration,
        requests=args.requests,
        request_size=args.request_size,
        protocol=args.protocol,
        docs_file=args.docs,
        timeout=args.timeout,
        seed=args.seed,
        warmup=args.warmup,
    )
    report = run(target, spec)
    if args.plot:
        write_latency_svg(report, args.plot)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format())
        if args.plot:
            print(f"  plot       {args.plot}")
    sys.stdout.flush()
    return 0 if report.errors == 0 else 1
