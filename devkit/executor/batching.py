"""Which endpoints are dynamically batched, and how: ``@dynamic_batching`` and ``uses_dynamic_batching``.

A batched endpoint's requests (same endpoint, same parameters) wait in a queue until
``preferred_batch_size`` documents are there or the oldest has waited ``timeout``
milliseconds; the Executor then gets them as one DocList (see :mod:`devkit.serve.batching`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from devkit.errors import ConfigError, NotSupportedYetError

__all__ = ["DEFAULT_TIMEOUT_MS", "BatchingConfig", "batching_of", "dynamic_batching"]

#: jina's default: a request waits at most 10 seconds for its batch to fill.
DEFAULT_TIMEOUT_MS = 10_000.0

F = TypeVar("F", bound=Callable[..., Any])

_ATTR = "__devkit_dynamic_batching__"
_NOT_YET = ("custom_metric", "use_custom_metric")


@dataclass(frozen=True)
class BatchingConfig:
    """One endpoint's batching: ``preferred_batch_size`` documents or ``timeout`` ms, first reached.

    ``preferred_batch_size=None`` flushes on the timeout only, with everything queued;
    ``flush_all=True`` uses the size as a trigger but hands over everything queued (jina's
    option; the Executor may then get more than ``preferred_batch_size`` documents).
    """

    preferred_batch_size: int | None = None
    timeout: float = DEFAULT_TIMEOUT_MS
    flush_all: bool = False

    def __post_init__(self) -> None:
        problems = _value_problems(self.preferred_batch_size, self.timeout)
        if problems:
            raise ConfigError("dynamic batching: " + "; ".join(problems))

    @property
    def timeout_s(self) -> float:
        return self.timeout / 1000.0

    @classmethod
    def parse(cls, value: Any, where: str) -> BatchingConfig | None:
        """A config from a ``uses_dynamic_batching`` entry; None when it switches batching off.

        Raises :class:`ConfigError` naming every problem of the entry at once."""
        config, problems = cls.read(value, where)
        if problems:
            raise ConfigError(f"{where}: " + "; ".join(problems))
        return config

    @classmethod
    def read(cls, value: Any, where: str = "dynamic batching") -> tuple[BatchingConfig | None, list[str]]:
        """``(config, [])`` for a good entry (config None: batching switched off), else
        ``(None, every problem found)``."""
        if isinstance(value, BatchingConfig):
            return value, []
        if not isinstance(value, Mapping):
            return None, [
                f"expected a mapping like {{preferred_batch_size: 10, timeout: 200}}, got {value!r}"
            ]
        options = dict(value)
        for name in _NOT_YET:
            if options.get(name):
                raise NotSupportedYetError(
                    f"{where}: {name}={options[name]!r} asks for batches measured by a function of "
                    "the documents; jina's dynamic batching documentation defines only "
                    "preferred_batch_size (a number of documents) and timeout, so devkit counts "
                    "documents rather than guess what it means; remove it"
                )
            options.pop(name, None)
        if not options.pop("use_dynamic_batching", True):
            return None, []
        unknown = sorted(set(options) - _KNOWN)
        problems = (
            [f"unknown dynamic batching option(s) {unknown}; known: {sorted(_KNOWN)}"] if unknown else []
        )
        if options.get("timeout") is None:
            options.pop("timeout", None)
        problems += _value_problems(
            options.get("preferred_batch_size"), options.get("timeout", DEFAULT_TIMEOUT_MS)
        )
        if problems:
            return None, problems
        return cls(**options), []


_KNOWN = frozenset({"preferred_batch_size", "timeout", "flush_all"})


def _value_problems(size: Any, timeout: Any) -> list[str]:
    problems = []
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        problems.append(f"preferred_batch_size must be a positive integer, got {size!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        problems.append(f"timeout is in milliseconds and must be positive, got {timeout!r}")
    return problems


def batching_of(fn: Any) -> BatchingConfig | None:
    """What ``@dynamic_batching`` recorded on ``fn`` (None: not batched)."""
    return getattr(fn, _ATTR, None)


def dynamic_batching(
    func: Any = None,
    *,
    preferred_batch_size: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT_MS,
    flush_all: bool = False,
    custom_metric: Callable[..., Any] | None = None,
    use_custom_metric: bool = False,
    use_dynamic_batching: bool = True,
) -> Any:
    """Batch the documents of concurrent requests to this endpoint (stack it under ``@requests``).

    ``timeout`` is in milliseconds (default 10,000). ``custom_metric`` is in jina's signature
    but not in its documentation, and refused; ``use_dynamic_batching=False`` leaves the
    endpoint unbatched.
    """
    config = BatchingConfig.parse(
        {
            "preferred_batch_size": preferred_batch_size,
            "timeout": timeout,
            "flush_all": flush_all,
            "custom_metric": custom_metric,
            "use_custom_metric": use_custom_metric,
            "use_dynamic_batching": use_dynamic_batching,
        },
        "@dynamic_batching",
    )

    def mark(fn: F) -> F:
        setattr(fn, _ATTR, config)
        return fn

    if func is not None:
        return mark(func)
    return mark
