"""``devkit serve --record DIR`` and ``devkit replay DIR --against flow.yml``: record and replay.

``--record`` (on every serving command) records each request the gateway answers into a new
file in ``DIR`` (see :mod:`devkit.record`). ``devkit replay`` sends a recording again to a
Flow or Deployment YAML it starts itself (or to a running one, given its address), prints a
per-request report of what differs, and exits 1 when anything does.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from devkit.cli_input import positive_int, seconds
from devkit.record.spec import DEFAULT_MAX_BYTES, Recording

__all__ = [
    "REPLAY_COMMANDS",
    "add_record_options",
    "add_replay_command",
    "recording_of",
    "run_replay_command",
]

REPLAY_COMMANDS = ("replay",)


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 such as 1e-6, got {text!r}")
    return value


def add_record_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--record",
        metavar="DIR",
        help="record every request the gateway answers, and its response, into a new file in DIR "
        "(replay it with `devkit replay DIR --against ...`)",
    )
    parser.add_argument(
        "--record-max-bytes",
        type=positive_int,
        default=DEFAULT_MAX_BYTES,
        metavar="BYTES",
        help=f"stop recording when the file would grow beyond this (default: {DEFAULT_MAX_BYTES})",
    )


def recording_of(args: argparse.Namespace) -> Recording | None:
    """The ``--record`` option as the typed spec (None: not recording)."""
    if not getattr(args, "record", None):
        return None
    try:
        return Recording(dir=args.record, max_bytes=args.record_max_bytes)
    except ValueError as exc:  # pydantic's ValidationError: say it as a usage error
        raise argparse.ArgumentTypeError(f"--record: {exc}") from None


def add_replay_command(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    replay = commands.add_parser(
        "replay",
        parents=parents,
        help="replay a recording against a Flow or Deployment and report what differs; exit 1 if anything does",
    )
    replay.add_argument("recording", metavar="RECORDING", help="a recording folder (or one .dkrec file)")
    replay.add_argument(
        "--against",
        required=True,
        metavar="YAML_OR_ADDRESS",
        help="a Flow or Deployment YAML to start and replay against, or the address of a running one "
        "(grpc://host:port, http://host:port, ws://host:port)",
    )
    replay.add_argument(
        "--protocol",
        choices=("grpc", "http", "websocket"),
        help="replay over this protocol (default: the YAML's first); the YAML's Flow or Deployment "
        "is made to serve it too when it does not",
    )
    replay.add_argument(
        "--runtime",
        choices=("thread", "process"),
        default="thread",
        help="run the YAML's Executors in threads or child processes (default: thread)",
    )
    replay.add_argument(
        "--abs-tol", type=_tolerance, default=0.0, metavar="X", help="numbers this close are equal"
    )
    replay.add_argument(
        "--rel-tol", type=_tolerance, default=0.0, metavar="X", help="numbers this close relatively are equal"
    )
    replay.add_argument(
        "--volatile",
        nargs="+",
        default=["id"],
        metavar="FIELD",
        help="fields never compared: a name at any depth or a dotted path (default: id; name id "
        "again to keep ignoring ids, e.g. --volatile id created)",
    )
    replay.add_argument("--timeout", type=seconds, default=None, metavar="SECONDS", help="per request")


def _with_protocol(orchestrator: Any, protocol: str) -> None:
    """Make a YAML Flow or Deployment serve ``protocol`` too (on a free port)."""
    from devkit.orchestrate.flow import Flow

    if isinstance(orchestrator, Flow):
        served = [p.protocol for p in orchestrator.spec.gateway.protocols]
        if protocol not in served:
            orchestrator.config_gateway(
                protocol=[*served, protocol], port=[p.port for p in orchestrator.spec.gateway.protocols] + [0]
            )
        return
    spec = orchestrator.spec
    protocols = [p.protocol for p in spec.protocols]
    if protocol not in protocols:
        orchestrator.spec = spec.model_copy(
            update={"protocol": (*protocols, protocol), "port": (*(p.port for p in spec.protocols), 0)}
        )


def _start_yaml(path: str, runtime: str, protocol: str | None) -> Any:
    from devkit.cli import FileCommand
    from devkit.cli_build import file_orchestrator

    orchestrator = file_orchestrator(FileCommand("serve", path, None, "127.0.0.1", runtime))
    orchestrator.quiet = True
    if protocol is not None:
        _with_protocol(orchestrator, protocol)
    return orchestrator


def run_replay_command(args: argparse.Namespace) -> int:
    """Replay, print the report; 0 when every request was answered as recorded, else 1."""
    from devkit.logs import setup_logging
    from devkit.record.replay import replay

    setup_logging(verbose=bool(getattr(args, "verbose", False)))
    options = {
        "protocol": args.protocol,
        "abs_tol": args.abs_tol,
        "rel_tol": args.rel_tol,
        "volatile": tuple(args.volatile),
        "timeout": args.timeout,
    }
    if os.path.isfile(args.against):
        orchestrator = _start_yaml(args.against, args.runtime, args.protocol)
        with orchestrator:
            report = replay(args.recording, orchestrator, **options)
    elif "://" in args.against or ":" in args.against:
        report = replay(args.recording, args.against, **options)
    else:
        raise FileNotFoundError(
            f"--against {args.against!r} is neither a YAML file nor an address; "
            "give a flow.yml or grpc://host:port (http://, ws://)"
        )
    print(report.render())
    sys.stdout.flush()
    return 0 if report.ok else 1
