"""An Executor's ``env``, set in the environment of the process that serves it.

On the process runtime every replica has a process, and so an environment, of its own. On
the thread runtime all servers share one process, and ``os.environ`` cannot be isolated per
Executor: C libraries, subprocesses and ``os.getenv`` all read the one real environment, so a
per-thread overlay would only fool some readers. devkit therefore never lets two Executors
of one process see different values for one variable: while an Executor runs, its ``env``
entries are held in the process environment; another Executor asking the same value shares
it, one asking a different value fails to start with an error naming the variable and the
fix (``runtime='process'``). When the last Executor holding a variable stops, its value from
before (or its absence) is restored.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from devkit.errors import ConfigError

__all__ = ["hold_env"]


@dataclass
class _Held:
    value: str
    before: str | None  # the process's value when the first holder arrived (None: unset)
    holders: list[str] = field(default_factory=list)


_lock = threading.Lock()
_held: dict[str, _Held] = {}


def hold_env(env: Mapping[str, str], holder: str) -> Callable[[], None]:
    """Set ``env`` in this process for ``holder`` (an Executor's display name); return the
    function that lets go of it. Raises :class:`ConfigError` if a running Executor holds a
    different value for one of the variables."""
    with _lock:
        for name, value in env.items():
            held = _held.get(name)
            if held is not None and held.value != value:
                raise ConfigError(
                    f"{holder} sets env {name}={value!r}, but {', '.join(held.holders)} in the same "
                    f"process already set {name}={held.value!r}; Executors on the thread runtime share "
                    "one process environment: serve one of them with runtime='process', or give both "
                    "the same value"
                )
        for name, value in env.items():
            held = _held.setdefault(name, _Held(value, os.environ.get(name)))
            held.holders.append(holder)
            os.environ[name] = value

    def release() -> None:
        with _lock:
            for name in env:
                held = _held.get(name)
                if held is None or holder not in held.holders:
                    continue
                held.holders.remove(holder)
                if held.holders:
                    continue
                del _held[name]
                if held.before is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = held.before

    return release
