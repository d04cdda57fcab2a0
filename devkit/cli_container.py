"""The container commands: ``devkit worker`` (serve one worker spec), ``devkit build``, ``devkit new``.

``devkit worker SPEC_JSON`` is what a container runs (and what exported manifests call):
it serves exactly the worker the spec describes, until SIGTERM or SIGINT, draining first.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

__all__ = ["CONTAINER_COMMANDS", "add_container_commands", "run_container_command"]

CONTAINER_COMMANDS = ("worker", "build", "new")


def add_container_commands(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    worker = commands.add_parser(
        "worker", parents=parents, help="serve one worker spec (JSON) until stopped: what a container runs"
    )
    worker.add_argument("spec", metavar="SPEC_JSON", help="a WorkerSpec as JSON")
    build = commands.add_parser(
        "build", parents=parents, help="build devkit's base image locally, then each Executor folder's image"
    )
    build.add_argument(
        "folders", nargs="*", metavar="FOLDER", help="Executor folders (executor.py, config.yml)"
    )
    build.add_argument("--force", action="store_true", help="rebuild the base image even if it exists")
    new = commands.add_parser("new", parents=parents, help="scaffold an Executor folder that passes its test")
    new.add_argument("name", metavar="NAME", help="the Executor's class name, e.g. MyExecutor")
    new.add_argument("--path", default=None, help="where to create it (default: ./NAME)")


def run_container_command(args: argparse.Namespace) -> int:
    if args.command == "worker":
        return serve_worker(args.spec)
    if args.command == "build":
        return build_images(args.folders, force=args.force)
    if args.command == "new":
        from devkit.container.scaffold import scaffold

        folder = scaffold(args.name, args.path)
        print(f"created {folder}: run its test with `pytest {folder}`")
        return 0
    raise AssertionError(args.command)


def serve_worker(text: str) -> int:
    from devkit.cli_serve_spec import serve_until_signal
    from devkit.serve.worker import run_worker
    from devkit.spec.models import WorkerSpec

    spec = WorkerSpec.model_validate_json(text)
    return serve_until_signal(
        lambda stop: run_worker(
            spec, lambda *ports: logging.info("%s ready on port %s", spec.display_name, ports[0]), stop
        )
    )


def build_images(folders: list[str], *, force: bool) -> int:
    from devkit.container.base_image import build_base_image

    started = time.monotonic()
    base = build_base_image(force=force)
    print(f"{base} ({time.monotonic() - started:.1f} s)")
    from devkit.container.executor_image import build_executor_image, build_runtime_image

    started = time.monotonic()
    runtime = build_runtime_image(base, latest=True)
    print(f"{runtime}, tagged devkit-runtime:latest ({time.monotonic() - started:.1f} s)")
    if folders:
        for folder in folders:
            started = time.monotonic()
            print(f"{build_executor_image(folder, base)} ({time.monotonic() - started:.1f} s)")
    sys.stdout.flush()
    return 0
