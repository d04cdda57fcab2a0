"""A local stand-in for Executor Hub: a folder registry. The hosted Hub is never contacted.

``devkit hub push FOLDER`` copies an Executor folder (executor.py, config.yml, ...) to
``ROOT/NAME/TAG``; ``jinaai://NAME[:TAG]`` (``jinaai://user/NAME`` too: the user part is
ignored) then resolves to that folder's ``config.yml``, in ``uses=`` and
``Executor.from_hub``. ``jinaai+docker://NAME[:TAG]`` names the local image ``name:tag``
(build it with ``devkit build``). ``ROOT`` is ``$DEVKIT_HUB_ROOT``, by default
``~/.cache/devkit/hub``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from devkit.errors import ConfigError

__all__ = [
    "DOCKER",
    "SOURCE",
    "hub_root",
    "list_entries",
    "pull",
    "push",
    "resolve_docker_uri",
    "resolve_hub_uses",
    "resolve_uses",
]

SOURCE = "jinaai://"
DOCKER = "jinaai+docker://"
_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*$")


def hub_root() -> Path:
    return Path(os.environ.get("DEVKIT_HUB_ROOT") or Path.home() / ".cache" / "devkit" / "hub")


def _parse(uri: str) -> tuple[str, str]:
    """``jinaai[+docker]://[user/]NAME[:TAG]`` -> ``(NAME, TAG)``; the tag defaults to latest."""
    rest = uri.split("://", 1)[1].strip("/")
    rest = rest.rsplit("/", 1)[-1]  # jinaai://user/NAME and jinaai+docker:///NAME
    name, _, tag = rest.partition(":")
    if not _NAME.match(name) or (tag and not _NAME.match(tag)):
        raise ConfigError(f"{uri!r} is not a hub URI; write jinaai://NAME or jinaai://NAME:TAG")
    return name, tag or "latest"


def _entry(name: str, tag: str, uri: str) -> Path:
    folder = hub_root() / name / tag
    if not (folder / "config.yml").is_file():
        known = ", ".join(list_entries()) or "none"
        raise ConfigError(
            f"{uri!r} is not in the local hub at {hub_root()} (known: {known}); "
            f"push it with `devkit hub push FOLDER --name {name} -t {tag}` (the hosted Hub is not contacted)"
        )
    return folder


def _name_of(folder: Path) -> str:
    from devkit.spec.yamlio import read_yaml

    jtype = read_yaml(str(folder / "config.yml")).data.get("jtype")
    return str(jtype) if jtype else folder.name


def push(folder: str | os.PathLike[str], name: str | None = None, tags: list[str] | None = None) -> list[str]:
    """Copy ``folder`` into the registry under each tag (default ``latest``); return the URIs."""
    source = Path(folder)
    if not (source / "config.yml").is_file():
        raise ConfigError(f"{source} has no config.yml; an Executor folder holds executor.py and config.yml")
    name = name or _name_of(source)
    uris = []
    for tag in tags or ["latest"]:
        if not _NAME.match(name) or not _NAME.match(tag):
            raise ConfigError(f"hub name {name!r} and tag {tag!r} must be letters, digits, '.', '_' or '-'")
        target = hub_root() / name / tag
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".*"))
        uris.append(f"{SOURCE}{name}:{tag}")
    return uris


def pull(uri: str) -> str:
    """The folder (``jinaai://``) or image (``jinaai+docker://``) a URI names."""
    if uri.startswith(DOCKER):
        return resolve_docker_uri(uri)
    if not uri.startswith(SOURCE):
        raise ConfigError(
            f"{uri!r} is not a hub URI; write jinaai://NAME[:TAG] or jinaai+docker://NAME[:TAG]"
        )
    return str(_entry(*_parse(uri), uri))


def resolve_uses(uri: str) -> str:
    """``jinaai://NAME[:TAG]`` -> the ``config.yml`` of that registry folder."""
    return str(Path(pull(uri)) / "config.yml")


def resolve_hub_uses(uses: object) -> object:
    """``uses=`` with hub URIs resolved: ``jinaai://`` to a folder's config.yml,
    ``jinaai+docker://`` to ``docker://name:tag``; anything else unchanged."""
    if isinstance(uses, str) and uses.startswith(SOURCE):
        return resolve_uses(uses)
    if isinstance(uses, str) and uses.startswith(DOCKER):
        return "docker://" + resolve_docker_uri(uses)
    return uses


def resolve_docker_uri(uri: str) -> str:
    """``jinaai+docker://NAME[:TAG]`` -> the local image ``name:tag`` (no registry is asked)."""
    name, tag = _parse(uri)
    return f"{name.lower()}:{tag}"


def list_entries() -> list[str]:
    """``NAME:TAG`` of every Executor in the registry."""
    root = hub_root()
    if not root.is_dir():
        return []
    return sorted(
        f"{name.name}:{tag.name}"
        for name in root.iterdir()
        if name.is_dir()
        for tag in name.iterdir()
        if (tag / "config.yml").is_file()
    )
