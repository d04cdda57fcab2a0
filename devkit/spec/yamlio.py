"""YAML reading with line numbers for error messages, and `${{ ... }}` substitution."""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from devkit.errors import ConfigError

__all__ = ["YamlDocument", "read_yaml", "substitute", "write_yaml"]

_VAR = re.compile(r"\$\{\{\s*([A-Za-z_][\w]*)\.([\w.\-]+)\s*\}\}")


@dataclass
class YamlDocument:
    """Parsed YAML plus where each top-level key came from."""

    data: dict[str, Any]
    source: str  # a file path, or "<string>"
    base_dir: pathlib.Path
    key_lines: dict[str, int] = field(default_factory=dict)
    node: yaml.Node | None = None

    def line_of(self, *path: str | int) -> int | None:
        """The 1-based line of the value at ``path`` (mapping keys and list indexes)."""
        node = self.node
        for step in path:
            if isinstance(node, yaml.MappingNode):
                node = next((value for key, value in node.value if key.value == step), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
                node = node.value[step]
            else:
                return None
        return node.start_mark.line + 1 if node is not None else None

    def where(self, key: str | None = None) -> str:
        line = self.key_lines.get(key or "")
        return f"{self.source}:{line}" if line else self.source

    def reject_unknown(self, allowed: Iterable[str], what: str) -> None:
        unknown = [key for key in self.data if key not in set(allowed)]
        if unknown:
            places = ", ".join(f"{key!r} at {self.where(key)}" for key in unknown)
            raise ConfigError(f"unknown {what} key(s) {places}; allowed keys are {sorted(allowed)}")


def _looks_like_path(source: str) -> bool:
    return "\n" not in source and source.strip().endswith((".yml", ".yaml"))


def read_yaml(source: str | os.PathLike[str], context: Mapping[str, Any] | None = None) -> YamlDocument:
    """Read a YAML file (or YAML text), substitute variables and remember key line numbers."""
    text_source = os.fspath(source)
    if _looks_like_path(text_source):
        path = pathlib.Path(text_source)
        if not path.is_file():
            raise ConfigError(f"YAML file {text_source!r} does not exist (looked in {os.getcwd()})")
        text, name, base = path.read_text(), str(path), path.resolve().parent
    else:
        text, name, base = text_source, "<string>", pathlib.Path.cwd()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{name} must hold a mapping at the top level, got {type(data).__name__}")
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            lines[str(key_node.value)] = key_node.start_mark.line + 1
    data = substitute(data, context or {}, name)
    return YamlDocument(data=data, source=name, base_dir=base, key_lines=lines, node=node)


def substitute(value: Any, context: Mapping[str, Any], source: str = "<string>") -> Any:
    """Replace ``${{ ENV.X }}`` and ``${{ CONTEXT.X }}`` in every string of ``value``.

    A string that is exactly one variable takes the variable's value and type; other
    variables (for instance ``${{ executors.NAME.ATTR }}``) are left for the Flow to resolve.
    """
    if isinstance(value, dict):
        return {key: substitute(item, context, source) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, context, source) for item in value]
    if not isinstance(value, str) or "${{" not in value:
        return value

    def lookup(scope: str, name: str) -> Any:
        if scope == "ENV":
            if name not in os.environ:
                raise ConfigError(
                    f"{source}: environment variable {name!r} is not set (used as ${{{{ ENV.{name} }}}})"
                )
            return os.environ[name]
        if scope == "CONTEXT":
            if name not in context:
                raise ConfigError(
                    f"{source}: context variable {name!r} was not given (known: {sorted(context)})"
                )
            return context[name]
        return None

    whole = _VAR.fullmatch(value.strip())
    if whole:
        found = lookup(whole.group(1), whole.group(2))
        return value if found is None else found

    def replace(match: re.Match[str]) -> str:
        found = lookup(match.group(1), match.group(2))
        return match.group(0) if found is None else str(found)

    return _VAR.sub(replace, value)


def _unwritable(value: Any, path: str) -> tuple[str, Any] | None:
    """The first value under ``value`` that safe YAML cannot hold, and where it is."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = _unwritable(key, f"{where} (the key)") or _unwritable(item, where)
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _unwritable(item, f"{path}[{index}]")
            if found:
                return found
        return None
    try:
        yaml.safe_dump(value)
    except yaml.YAMLError:
        return path, value
    return None


def write_yaml(data: Mapping[str, Any], path: str | os.PathLike[str], what: str) -> None:
    """Write ``data`` as safe YAML; a value it cannot hold (a Python object in ``uses_with``, say)
    is a :class:`ConfigError` naming the option, rather than PyYAML's bare representer error."""
    found = _unwritable(dict(data), "")
    if found:
        where, value = found
        raise ConfigError(
            f"{what}: {where} = {value!r} ({type(value).__name__}) cannot be written to YAML; pass plain "
            "values (str, int, float, bool, None, lists and mappings of them) or build it in the Executor"
        )
    pathlib.Path(path).write_text(yaml.safe_dump(dict(data), sort_keys=False))
