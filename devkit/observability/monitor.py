"""``@monitor()`` and ``self.monitor(...)``: time parts of an Executor into jina-named metrics."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["monitor", "timed"]

F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def timed(metrics: Any, name: str, documentation: str = "") -> Iterator[None]:
    """Record the block's duration as ``jina_<name>``; nothing when ``metrics`` is None."""
    if metrics is None:
        yield
        return
    began = time.perf_counter()
    try:
        yield
    finally:
        metrics.observe_custom(name, documentation or f"Time spent in {name}", time.perf_counter() - began)


def monitor(name: str | None = None, documentation: str | None = None) -> Callable[[F], F]:
    """Time every call of an Executor method: ``jina_<method>_seconds`` unless ``name`` says."""

    def decorate(fn: F) -> F:
        metric = name or f"{fn.__name__}_seconds"
        doc = documentation or f"Time spent in {fn.__name__}"

        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            with timed(getattr(self, "metrics", None), metric, doc):
                return fn(self, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
