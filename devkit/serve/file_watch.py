"""Watching files for hot reload, on machines with and without file notifications.

watchfiles uses the OS's notifications (inotify); when none are left (the per-user inotify
limit is machine-wide and a busy machine reaches it) it raises, and we poll instead.
"""

from __future__ import annotations

import logging
import pathlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["watch_changes"]

#: how often (ms) the watcher wakes without changes (to notice a stop) and polls when polling
TICK_MS = 200


def watch_changes(
    paths: list[pathlib.Path],
    *,
    watch_filter: Callable[[Any, str], bool],
    stop_event: threading.Event,
    log: logging.Logger,
    recursive: bool = True,
) -> Iterator[set[str]]:
    """Yield the changed paths (an empty set on each quiet tick) until ``stop_event`` is set.

    The first yield means the files are watched: a change made after it is reported.
    """
    try:
        yield from _watch(paths, watch_filter, stop_event, recursive, force_polling=None)
    except Exception as exc:  # e.g. "Too many open files" creating the inotify watcher
        if stop_event.is_set():
            return
        log.warning(
            "file notifications unavailable for %s (%s: %s); polling for changes instead",
            sorted(map(str, paths)),
            type(exc).__name__,
            exc,
        )
        yield from _watch(paths, watch_filter, stop_event, recursive, force_polling=True)


def _watch(
    paths: list[pathlib.Path],
    watch_filter: Callable[[Any, str], bool],
    stop_event: threading.Event,
    recursive: bool,
    force_polling: bool | None,
) -> Iterator[set[str]]:
    from watchfiles import watch

    changes_iter = watch(
        *paths,
        watch_filter=watch_filter,
        stop_event=stop_event,
        rust_timeout=TICK_MS,
        yield_on_timeout=True,
        raise_interrupt=False,
        recursive=recursive,
        force_polling=force_polling,
        poll_delay_ms=TICK_MS,
    )
    # The poller takes its first snapshot during its first cycle: a change before it is missed,
    # so its first quiet tick is not yet "watching".
    skip_first = bool(force_polling)
    for changes in changes_iter:
        if skip_first and not changes:
            skip_first = False
            continue
        skip_first = False
        yield {path for _, path in changes}
