"""The ``devkit`` command: serve Executors, Deployments and Flows, and ping running ones.

Arguments are parsed here, at the edge, into small frozen dataclasses; everything below
this module is called with ordinary keyword arguments, never with an argparse namespace.

Exit codes: 0 on success (and after a clean shutdown on SIGINT/SIGTERM, once the requests
in flight were answered), 1 when a command fails (bad YAML, unknown Executor, port in use,
unhealthy ping target), 2 for command-line usage errors (argparse's convention), 130 when
a second signal forced the exit.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from devkit.cli_build import check_ports_free, executor_deployment, file_orchestrator
from devkit.cli_container import CONTAINER_COMMANDS, add_container_commands, run_container_command
from devkit.cli_export import EXPORT_COMMANDS, add_export_commands, run_export_command
from devkit.cli_input import Parser, json_object, port, positive_int, seconds, yaml_file
from devkit.cli_load import LOAD_COMMANDS, add_load_command, run_load_command
from devkit.cli_record import (
    REPLAY_COMMANDS,
    add_record_options,
    add_replay_command,
    recording_of,
    run_replay_command,
)
from devkit.client.ping import PING_TARGETS, PingCommand, ping
from devkit.errors import DevkitError, RuntimeFailToStart
from devkit.logs import setup_logging
from devkit.record.spec import Recording
from devkit.runtime.base import DEFAULT_GRACE
from devkit.spec.models import RUNTIME_KINDS

__all__ = [
    "CheckCommand",
    "FileCommand",
    "PingCommand",
    "PlotCommand",
    "ServeExecutorCommand",
    "build_parser",
    "main",
    "ping",
    "serve_until_stopped",
]

RUNTIMES = RUNTIME_KINDS

FileKind = Literal["deployment", "flow", "serve"]


# -- typed commands ------------------------------------------------------------------------
@dataclass(frozen=True)
class ServeExecutorCommand:
    """``devkit executor``: one Executor served as a Deployment."""

    uses: str | None
    port: int | None
    host: str
    name: str
    replicas: int
    shards: int
    polling: str
    py_modules: tuple[str, ...]
    uses_with: dict[str, Any]
    runtime: str
    grace: float | None = DEFAULT_GRACE  # None: wait for in-flight requests however long they take
    reload: bool = False
    log_config: str | None = None
    record: Recording | None = None


@dataclass(frozen=True)
class FileCommand:
    """``devkit deployment|flow|serve``: serve what a YAML file describes."""

    kind: FileKind
    path: str
    port: int | None
    host: str | None
    runtime: str | None
    grace: float | None = DEFAULT_GRACE
    reload: bool = False
    log_config: str | None = None
    record: Recording | None = None


@dataclass(frozen=True)
class CheckCommand:
    """``devkit check``: do a Flow's Executors fit together? Starts nothing."""

    path: str
    endpoints: tuple[str, ...] | None


@dataclass(frozen=True)
class PlotCommand:
    """``devkit plot``: draw a Flow's topology to an .svg, .png or .mmd file. Starts nothing."""

    path: str
    output: str


Command = ServeExecutorCommand | FileCommand | PingCommand | CheckCommand | PlotCommand


# -- parser --------------------------------------------------------------------------------
def _grace(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    return None if value < 0 else value


def _version() -> str:
    from devkit.serve.info import devkit_version

    return devkit_version()


def _add_serving_options(parser: argparse.ArgumentParser, *, runtime_default: str | None) -> None:
    parser.add_argument(
        "--port", type=port, help="port to listen on (default: from the YAML, else OS-chosen)"
    )
    parser.add_argument("--host", help="interface to bind (default: from the YAML, else 0.0.0.0)")
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default=runtime_default,
        help="run servers in threads of this process or in child processes",
    )
    parser.add_argument(
        "--grace",
        type=_grace,
        default=DEFAULT_GRACE,
        metavar="SECONDS",
        help="on Ctrl-C/SIGTERM, how long the requests in flight may take to finish before they "
        f"are cancelled; negative waits for them however long they take (default: {DEFAULT_GRACE:g})",
    )
    parser.add_argument(
        "--reload",
        action="store_true",
        help="for development: rebuild an Executor when its .py or YAML files change",
    )
    parser.add_argument(
        "--log-config",
        metavar="FILE",
        help="a logging dictConfig file (YAML or JSON); the level is also read from "
        "DEVKIT_LOG_LEVEL (or JINA_LOG_LEVEL)",
    )
    add_record_options(parser)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, introspectable (``devkit --help``, ``devkit <command> --help``)."""
    verbose = Parser(add_help=False)
    verbose.add_argument(
        "--verbose", action="store_true", default=argparse.SUPPRESS, help="show tracebacks and debug logs"
    )
    parser = Parser(
        prog="devkit", description="Serve Executors, Deployments and Flows over the jina protocol."
    )
    parser.add_argument("--version", "-v", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--verbose", action="store_true", default=False, help="show tracebacks and debug logs"
    )
    commands = parser.add_subparsers(dest="command", metavar="<command>", required=True)

    executor = commands.add_parser("executor", parents=[verbose], help="serve one Executor until stopped")
    executor.add_argument(
        "--uses",
        help="Executor class name, module.Class, or an Executor YAML file (default: a pass-through Executor)",
    )
    executor.add_argument("--name", default="executor", help="name of the Executor (default: executor)")
    executor.add_argument("--replicas", type=positive_int, default=1)
    executor.add_argument("--shards", type=positive_int, default=1)
    executor.add_argument("--polling", choices=("ANY", "ALL", "any", "all"), default="ANY")
    executor.add_argument(
        "--py-modules",
        nargs="+",
        default=[],
        metavar="MODULE",
        help="Python files or modules to import first",
    )
    executor.add_argument(
        "--uses-with", type=json_object, default={}, metavar="JSON", help="keyword arguments for __init__"
    )
    _add_serving_options(executor, runtime_default="thread")

    for kind, what in (("deployment", "a Deployment"), ("flow", "a Flow")):
        sub = commands.add_parser(kind, parents=[verbose], help=f"serve {what} YAML file until stopped")
        sub.add_argument("--uses", required=True, metavar="YAML", help=f"the {kind}.yml to serve")
        _add_serving_options(sub, runtime_default=None)

    serve = commands.add_parser(
        "serve", parents=[verbose], help="serve a YAML file: jtype Deployment, Flow or an Executor class"
    )
    serve.add_argument("path", metavar="YAML")
    _add_serving_options(serve, runtime_default=None)

    ping = commands.add_parser(
        "ping", parents=[verbose], help="health-check a server; exit code 0 when healthy, 1 otherwise"
    )
    ping.add_argument(
        "target",
        nargs="?",
        choices=PING_TARGETS,
        default="executor",
        help="what listens there (default: executor)",
    )
    ping.add_argument("address", help="grpc://host:port, host:port, http(s)://host:port or ws(s)://host:port")
    ping.add_argument(
        "--timeout",
        type=seconds,
        default=3.0,
        metavar="SECONDS",
        help="per attempt; negative waits forever (default: 3)",
    )
    ping.add_argument("--attempts", type=positive_int, default=1, help="how many checks at most (default: 1)")
    ping.add_argument(
        "--min-successful-attempts",
        type=positive_int,
        default=1,
        help="healthy checks needed for exit code 0 (default: 1)",
    )
    ping.add_argument("--interval", type=seconds, default=1.0, metavar="SECONDS", help="pause between checks")

    check = commands.add_parser(
        "check",
        parents=[verbose],
        help="check that a Flow's Executor schemas fit together, without starting it",
    )
    check.add_argument("path", metavar="FLOW_YAML")
    check.add_argument(
        "--endpoints",
        nargs="+",
        metavar="ENDPOINT",
        help="endpoints clients will call (default: all declared)",
    )

    plot = commands.add_parser(
        "plot", parents=[verbose], help="draw a Flow's topology to an .svg, .png or .mmd file"
    )
    plot.add_argument("path", metavar="FLOW_YAML")
    plot.add_argument("output", metavar="OUTPUT", help="flow.svg, flow.png (needs cairosvg) or flow.mmd")
    add_export_commands(commands, [verbose])
    add_container_commands(commands, [verbose])
    add_load_command(commands, [verbose])
    add_replay_command(commands, [verbose])
    return parser


def to_command(args: argparse.Namespace) -> Command:
    """The one place a namespace is read: turn it into a typed command."""
    if args.command == "executor":
        return ServeExecutorCommand(
            uses=args.uses,
            port=args.port,
            host=args.host or "0.0.0.0",
            name=args.name,
            replicas=args.replicas,
            shards=args.shards,
            polling=args.polling.upper(),
            py_modules=tuple(args.py_modules),
            uses_with=dict(args.uses_with),
            runtime=args.runtime,
            grace=args.grace,
            reload=args.reload,
            log_config=args.log_config,
            record=recording_of(args),
        )
    if args.command in ("deployment", "flow", "serve"):
        return FileCommand(
            args.command,
            args.path if args.command == "serve" else args.uses,
            args.port,
            args.host,
            args.runtime,
            args.grace,
            reload=args.reload,
            log_config=args.log_config,
            record=recording_of(args),
        )
    if args.command == "ping":
        return PingCommand(
            target=args.target,
            address=args.address,
            timeout=None if args.timeout < 0 else args.timeout,
            attempts=args.attempts,
            min_successful=args.min_successful_attempts,
            interval=max(0.0, args.interval),
        )
    if args.command == "check":
        return CheckCommand(args.path, tuple(args.endpoints) if args.endpoints else None)
    if args.command == "plot":
        return PlotCommand(args.path, args.output)
    raise AssertionError(f"unhandled command {args.command!r}")


# -- serving -------------------------------------------------------------------------------
#: Seconds after the first stop signal during which further signals are taken as echoes of it:
#: Ctrl-C reaches every process of the terminal's group, and tools that run devkit (tox)
#: forward it and follow up with SIGTERM 0.3 s later. A signal after that forces the exit.
FORCE_AFTER = 3.0


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event, grace: float | None = DEFAULT_GRACE) -> Iterator[None]:
    """Set ``stop`` on SIGINT/SIGTERM; a signal :data:`FORCE_AFTER` seconds later forces an exit.

    Once a signal stopped the servers the process is on its way out, and interpreter
    teardown takes about half a second, during which Python puts its handled signals back to
    their default action; so that an echo arriving then (tox's SIGTERM 0.3 s after SIGINT)
    does not kill the process, both signals are ignored from that point on.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    first: float | None = None

    def handle(signum: int, frame: object) -> None:
        nonlocal first
        name = signal.Signals(signum).name
        if first is None:
            first = time.monotonic()
            limit = "however long they take" if grace is None else f"up to {grace:g} s"
            print(
                f"devkit: {name} received, shutting down: answering the requests in flight ({limit}) first; "
                f"a second signal {FORCE_AFTER:g} s or more later stops at once",
                file=sys.stderr,
            )
            stop.set()
        elif time.monotonic() - first < FORCE_AFTER:
            print(f"devkit: {name} received while stopping: taken as an echo of the first", file=sys.stderr)
        else:
            raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if first is None else signal.SIG_IGN)


def serve_until_stopped(
    orchestrator: Any, stop: threading.Event | None = None, grace: float | None = DEFAULT_GRACE
) -> None:
    """Start ``orchestrator``, block until ``stop`` is set or a signal arrives, then close it,
    answering the requests in flight for up to ``grace`` seconds (None: however long)."""
    event = stop or threading.Event()
    with _stop_on_signals(event, grace):
        orchestrator.start()
        try:
            orchestrator.block(event)
        finally:
            orchestrator.close(grace)
        print("devkit: stopped", file=sys.stderr)


# -- ping ----------------------------------------------------------------------------------
# -- entry point ---------------------------------------------------------------------------
def _prepare_to_serve(verbose: bool, log_config: str | None) -> None:
    """Process-wide settings a server process needs; done only for the serving commands."""
    setup_logging(verbose=verbose, log_config=log_config)


def run(command: Command, verbose: bool = False) -> int:
    if isinstance(command, PingCommand):
        return 0 if ping(command) else 1
    if isinstance(command, CheckCommand):
        from devkit.testing.contracts import check_command

        return check_command(yaml_file(command.path, "check"), command.endpoints)
    if isinstance(command, PlotCommand):
        from devkit.plot import plot_command

        return plot_command(yaml_file(command.path, "plot"), command.output)
    _prepare_to_serve(verbose, command.log_config)
    if isinstance(command, ServeExecutorCommand):
        orchestrator = executor_deployment(command)
    else:
        orchestrator = file_orchestrator(command)
    check_ports_free(orchestrator)
    serve_until_stopped(orchestrator, grace=command.grace)
    return 0


def _traceback_helps(exc: BaseException) -> bool:
    """devkit's own errors say all there is; an exception from user code or a bug has a traceback."""
    if isinstance(exc, RuntimeFailToStart):
        return not isinstance(exc.__cause__, DevkitError)
    return not isinstance(exc, DevkitError)


def _short_message(exc: BaseException) -> str:
    """The error without any child-process traceback a runtime appended to it."""
    text = str(exc).split("\nTraceback (most recent call last)", 1)[0].strip()
    if isinstance(exc, (ValueError, OSError, ImportError, RuntimeError)) and text:
        return text  # devkit's own errors derive from these and name their cause
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """``devkit ...``; returns the exit code (the console script passes it to ``sys.exit``)."""
    args = build_parser().parse_args(argv)
    verbose = bool(args.verbose)
    try:
        if args.command in EXPORT_COMMANDS:
            return run_export_command(args)
        if args.command in CONTAINER_COMMANDS:
            return run_container_command(args)
        if args.command in LOAD_COMMANDS:
            return run_load_command(args)
        if args.command in REPLAY_COMMANDS:
            return run_replay_command(args)
        return run(to_command(args), verbose)
    except KeyboardInterrupt:
        print("devkit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if verbose:
            traceback.print_exc()
        hint = (
            " (run again with --verbose for the traceback)" if not verbose and _traceback_helps(exc) else ""
        )
        print(f"devkit: error: {_short_message(exc)}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
