"""What a user typed on the ``devkit`` command line, checked before anything starts.

argparse types whose errors read as words (``expected a positive integer such as 2, got
'two'``), the YAML file a command names (a Python file given instead, a typo in ``jtype``),
and whether the port to listen on is free: checked here so that gRPC's own log line for a
failed bind never reaches the user, only devkit's.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
from typing import Any, NoReturn

from devkit.errors import ConfigError, PortInUseError
from devkit.runtime.address import port_in_use
from devkit.spec.executor_yaml import EXECUTOR_YAML_KEYS
from devkit.spec.yamlio import YamlDocument, read_yaml

__all__ = [
    "KINDS",
    "Parser",
    "check_port_free",
    "json_object",
    "jtype_of",
    "port",
    "positive_int",
    "seconds",
    "served_jtype",
    "yaml_file",
]

#: The ``jtype`` values that are not Executor classes.
KINDS = ("Flow", "Deployment")


class Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line plus where to look for help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\nsee `{self.prog} --help` for the options\n")


# -- argument types: argparse names the argument, these say what was expected ----------------
def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer such as 2, got {text!r}")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            f"expected a port number from 0 to 65535 (0: let the OS choose), got {text!r}"
        )
    return value


def seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds such as 3 or 0.5, got {text!r}"
        ) from None


def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"key\": 1}}', got {text!r}")
    return value


# -- the YAML file a command serves ------------------------------------------------------------
def _executor_classes(path: str) -> list[str]:
    """Classes in a Python file that look like Executors (derive from ``...Executor``)."""
    try:
        tree = ast.parse(open(path, encoding="utf-8").read())  # noqa: SIM115  # closed by refcount
    except (OSError, SyntaxError, ValueError):
        return []
    found = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bases = [ast.unparse(base) for base in node.bases]
            if any(base.rsplit(".", 1)[-1].endswith("Executor") for base in bases):
                found.append(node.name)
    return found


def yaml_file(path: str, command: str) -> str:
    """``path`` when it is an existing YAML file; otherwise a :class:`ConfigError` saying what to pass."""
    if path.endswith(".py") and command in ("check", "plot"):
        raise ConfigError(
            f"{path} is a Python file, but `devkit {command}` takes a Flow YAML file (jtype: Flow)"
        )
    if path.endswith(".py"):
        classes = _executor_classes(path) if os.path.isfile(path) else []
        name = classes[0] if len(classes) == 1 else "ClassName"
        raise ConfigError(
            f"{path} is a Python file, but `devkit {command}` takes a YAML file (jtype: Flow, Deployment "
            f"or an Executor class); to serve an Executor class from it, run "
            f"`devkit executor --uses {name} --py-modules {path}`"
        )
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such file (looked in {os.getcwd()}); pass the path of a YAML file")
    if not path.endswith((".yml", ".yaml")):
        raise ConfigError(f"{path} is not a YAML file; `devkit {command}` takes a .yml or .yaml file")
    return path


def _nearest_kind(jtype: str) -> str | None:
    by_lower = {kind.lower(): kind for kind in KINDS}
    near = difflib.get_close_matches(jtype.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[near[0]] if near else None


def jtype_of(doc: YamlDocument) -> str:
    """The document's ``jtype``; a :class:`ConfigError` naming the nearest valid one for a typo.

    Any ``jtype`` other than Flow or Deployment names an Executor class, unless the document
    has keys an Executor YAML cannot have (``executors:``, ``gateway:``...): then it is a typo.
    """
    jtype = doc.data.get("jtype")
    if not isinstance(jtype, str) or not jtype:
        raise ConfigError(f"{doc.source}: needs a 'jtype:' naming Flow, Deployment or an Executor class")
    if jtype in KINDS:
        return jtype
    foreign = sorted(set(doc.data) - set(EXECUTOR_YAML_KEYS))
    if foreign:
        near = _nearest_kind(jtype)
        fix = (
            f"did you mean 'jtype: {near}'?"
            if near
            else f"use 'jtype: Flow' or 'jtype: Deployment' ({', '.join(map(repr, foreign))} "
            "cannot appear in an Executor YAML)"
        )
        raise ConfigError(f"{doc.where('jtype')}: unknown jtype {jtype!r}; {fix}")
    return jtype


def served_jtype(path: str, command: str) -> str:
    """The ``jtype`` of the YAML file ``devkit <command>`` serves, checked against the command."""
    jtype = jtype_of(read_yaml(yaml_file(path, command)))
    expected = {"deployment": "Deployment", "flow": "Flow"}.get(command)
    if expected is not None and jtype != expected:
        if _nearest_kind(jtype) == expected:
            raise ConfigError(f"{path}: unknown jtype {jtype!r}; did you mean 'jtype: {expected}'?")
        raise ConfigError(
            f"{path} has 'jtype: {jtype}', but `devkit {command}` serves 'jtype: {expected}'; "
            f"use `devkit serve {path}`"
        )
    return jtype


# -- the port to listen on -------------------------------------------------------------------
def check_port_free(what: str, host: str, port: int | None) -> None:
    """Raise :class:`PortInUseError` when something listens on ``host:port`` already.

    Checked before the server binds, so that the user sees devkit's message and not gRPC's
    log line about the failed bind. Other bind errors are left for the server to report.
    """
    if port and port_in_use(host, port):
        raise PortInUseError(
            f"{what} cannot listen on {host}:{port}: the port is already in use; stop the program "
            "listening there or choose another port with --port"
        )
