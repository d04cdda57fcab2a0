"""``devkit export``, ``devkit gateway`` and ``devkit hub``: the commands of the export path.

``devkit gateway SPEC_JSON`` serves one gateway spec (its edges are addresses, e.g. service
DNS names): it is what exported manifests run for the gateway, as ``devkit worker SPEC_JSON``
is for each Executor.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

__all__ = ["EXPORT_COMMANDS", "add_export_commands", "run_export_command"]

EXPORT_COMMANDS = ("export", "gateway", "hub")


def add_export_commands(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export",
        parents=parents,
        help="write docker-compose or Kubernetes files for a Flow or Deployment YAML",
    )
    export.add_argument("format", choices=("docker-compose", "kubernetes"))
    export.add_argument("path", metavar="YAML", help="a jtype Flow or Deployment YAML file")
    export.add_argument("output", metavar="OUT", help="docker-compose.yml, or a folder for Kubernetes")
    export.add_argument("--k8s-namespace", default=None, help="Kubernetes namespace (default: default)")
    export.add_argument(
        "--image",
        default=None,
        help="an image holding devkit, for the gateway and Executors named by class "
        "(default: $DEVKIT_IMAGE or devkit-runtime:latest)",
    )
    gateway = commands.add_parser(
        "gateway", parents=parents, help="serve one gateway spec (JSON) until stopped: what manifests run"
    )
    gateway.add_argument("spec", metavar="SPEC_JSON", help="a GatewaySpec as JSON")
    hub = commands.add_parser(
        "hub", parents=parents, help="a local Executor registry (a folder; no hosted Hub)"
    )
    actions = hub.add_subparsers(dest="hub_command", metavar="<action>", required=True)
    push = actions.add_parser("push", help="copy an Executor folder into the registry")
    push.add_argument("folder", metavar="FOLDER")
    push.add_argument("--name", default=None, help="registry name (default: the config.yml's jtype)")
    push.add_argument("--tag", "-t", action="append", default=None, help="tag (repeatable; default latest)")
    pull = actions.add_parser("pull", help="print the folder a jinaai:// URI resolves to")
    pull.add_argument("uri", metavar="URI", help="jinaai://NAME[:TAG] or jinaai+docker://NAME[:TAG]")
    actions.add_parser("list", help="list the Executors in the registry")


def run_export_command(args: argparse.Namespace) -> int:
    if args.command == "export":
        return export(args.format, args.path, args.output, args.k8s_namespace, args.image)
    if args.command == "gateway":
        return serve_gateway(args.spec)
    from devkit import hub

    if args.hub_command == "push":
        for uri in hub.push(args.folder, name=args.name, tags=args.tag):
            print(uri)
    elif args.hub_command == "pull":
        print(hub.pull(args.uri))
    else:
        for line in hub.list_entries():
            print(line)
    return 0


def export(kind: str, path: str, output: str, namespace: str | None, image: str | None) -> int:
    from devkit.cli_input import served_jtype, yaml_file
    from devkit.orchestrate.deployment import Deployment
    from devkit.orchestrate.flow import Flow

    yaml_file(path, "export")
    jtype = served_jtype(path, "serve")
    orchestrator: Flow | Deployment = (
        Flow.load_config(path) if jtype == "Flow" else Deployment.load_config(path)
    )
    if kind == "docker-compose":
        print(orchestrator.to_docker_compose_yaml(output, image=image))
    else:
        for written in orchestrator.to_kubernetes_yaml(output, k8s_namespace=namespace, image=image):
            print(written)
    return 0


def serve_gateway(text: str) -> int:
    from devkit.cli_serve_spec import serve_until_signal
    from devkit.serve.gateway.runner import run_gateway
    from devkit.spec.models import GatewaySpec

    spec = GatewaySpec.model_validate_json(text)
    return serve_until_signal(
        lambda stop: run_gateway(spec, lambda *ports: logging.info("gateway ready on ports %s", ports), stop)
    )
