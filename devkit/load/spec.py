"""What a load run does: the typed options of ``devkit load`` and :func:`devkit.load.run`."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["LoadSpec", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "min": 60.0}


def parse_duration(text: str) -> float:
    """``30s``, ``500ms``, ``2m`` or a plain number of seconds, as seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"expected a duration such as 30s, 500ms, 2m or 10, got {text!r}")
    return float(match.group(1)) * _UNIT[match.group(2)]


@dataclass(frozen=True)
class LoadSpec:
    """One load run: where to post, how hard, and when to stop.

    The run stops at whichever bound comes first: ``requests`` sent or ``duration``
    seconds elapsed; at least one of them must be set (``warmup`` requests before that are
    sent but not counted). ``request_size`` documents go in
    each request, drawn from the endpoint's request schema (or read from ``docs_file``:
    a JSON array of documents or JSON lines). ``timeout`` bounds each request.
    """

    endpoint: str = "/"
    concurrency: int = 8
    duration: float | None = 10.0
    requests: int | None = None
    request_size: int = 1
    protocol: str | None = None  # None: the Flow's first protocol, or the address's scheme
    docs_file: str | None = None
    timeout: float = 30.0
    seed: int = 0
    pool: int = 32  # distinct request payloads drawn before the run and sent in turn
    warmup: int = 0  # requests sent (and forgotten) before the clock starts: connections, caches

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.request_size < 1:
            raise ValueError(f"request_size must be >= 1 document, got {self.request_size}")
        if self.requests is None and self.duration is None:
            raise ValueError("a load run needs a bound: give requests=N, duration=SECONDS or both")
        if self.requests is not None and self.requests < 1:
            raise ValueError(f"requests must be >= 1, got {self.requests}")
        if self.duration is not None and self.duration <= 0:
            raise ValueError(f"duration must be > 0 seconds, got {self.duration}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.pool < 1:
            raise ValueError(f"pool must be >= 1 payload, got {self.pool}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0 requests, got {self.warmup}")
        if not self.endpoint.startswith("/"):
            object.__setattr__(self, "endpoint", "/" + self.endpoint)
