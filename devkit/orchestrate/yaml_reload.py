"""``reload=True`` on a Flow or Deployment loaded from YAML: while it is ``block()``-ed, a
change to that YAML file restarts it from the new file on the same ports (jina's RELOAD-1/3).

For development, as in jina: requests in flight when the file changes get the stop's grace
to finish, then the new topology serves. A file that no longer loads is logged and the old
one keeps serving.
"""

from __future__ import annotations

import logging
import os
import pathlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devkit.serve.file_watch import watch_changes

if TYPE_CHECKING:
    from devkit.orchestrate.base import Orchestrator

__all__ = ["YamlSource", "block_reloading"]

log = logging.getLogger("devkit.orchestrate")


@dataclass(frozen=True)
class YamlSource:
    """Where an orchestrator was loaded from, to load it again."""

    path: pathlib.Path
    context: Mapping[str, Any] | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)


def _keep_ports(orchestrator: Orchestrator, overrides: Mapping[str, Any]) -> dict[str, Any]:
    ports = list(orchestrator.ports_by_protocol.values())
    if not ports:
        return dict(overrides)
    return {**overrides, "port": ports[0] if len(ports) == 1 else ports}


def _restart(orchestrator: Orchestrator, source: YamlSource) -> None:
    kind = orchestrator.kind
    log.info("change in %s YAML %s observed, restarting %s", kind, source.path.name, kind)
    overrides = _keep_ports(orchestrator, source.overrides)
    load = type(orchestrator).load_config  # type: ignore[attr-defined]  # Flow's and Deployment's
    context = {"context": source.context} if source.context is not None else {}
    try:
        fresh = load(source.path, **context, **overrides)
    except Exception as exc:
        log.error(
            "%s YAML %s does not load, the running %s keeps serving: %s",
            kind,
            source.path,
            kind,
            exc,
        )
        return
    orchestrator.restart_as(fresh)
    log.info("%s restarted from %s", kind, source.path.name)


def block_reloading(orchestrator: Orchestrator, source: YamlSource, event: threading.Event) -> None:
    """Serve until ``event`` is set, restarting ``orchestrator`` whenever ``source`` changes."""
    path = source.path.resolve()
    watching = False
    for changes in watch_changes(
        [path.parent],
        watch_filter=lambda _change, changed: pathlib.Path(changed) == path,
        stop_event=event,
        log=log,
        recursive=False,
    ):
        if not watching:  # the first yield (a change or a quiet tick) means the file is watched
            watching = True
            log.debug("watching %s for changes", os.fspath(path))
        if changes and not event.is_set():
            _restart(orchestrator, source)
