"""Which request numbers a fault fires on: first N, every k-th, explicit, random (seeded).

Numbers start at 1 and count the data requests a fault has seen since it was added, so
``Schedule.first(2)`` means "the next two requests", whatever happened on the edge before.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["Schedule"]

_Decide = Callable[[int, random.Random], bool]


class Schedule:
    """A predicate over request numbers; combine with ``|`` (either) and ``&`` (both).

    Random schedules draw from a generator seeded per request number (by the
    :class:`~devkit.testing.faults.FakeNetwork` seed, the edge and the fault), so the same
    seed fires on the same request numbers however requests interleave in time.
    """

    def __init__(self, decide: _Decide, text: str) -> None:
        self._decide = decide
        self._text = text

    def fires(self, number: int, rng: random.Random) -> bool:
        """Whether the fault fires on request ``number`` (1-based); ``rng`` is seeded for it."""
        return self._decide(number, rng)

    def __repr__(self) -> str:
        return f"Schedule.{self._text}"

    def __or__(self, other: Schedule) -> Schedule:
        return Schedule(lambda n, r: self.fires(n, r) or other.fires(n, r), f"{self._text} | {other._text}")

    def __and__(self, other: Schedule) -> Schedule:
        return Schedule(lambda n, r: self.fires(n, r) and other.fires(n, r), f"{self._text} & {other._text}")

    @classmethod
    def always(cls) -> Schedule:
        """Every request."""
        return cls(lambda n, r: True, "always()")

    @classmethod
    def first(cls, count: int) -> Schedule:
        """Requests 1 .. ``count``; ``first(0)`` never fires."""
        _check(count >= 0, f"first(count) needs count >= 0, got {count}")
        return cls(lambda n, r: n <= count, f"first({count})")

    @classmethod
    def every(cls, k: int, start: int | None = None) -> Schedule:
        """Requests ``start``, ``start + k``, ``start + 2k`` ...; ``start`` defaults to ``k``."""
        _check(k >= 1, f"every(k) needs k >= 1, got {k}")
        begin = k if start is None else start
        _check(begin >= 1, f"every(k, start) needs start >= 1, got {begin}")
        return cls(lambda n, r: n >= begin and (n - begin) % k == 0, f"every({k}, start={begin})")

    @classmethod
    def at(cls, *numbers: int) -> Schedule:
        """Exactly the listed request numbers."""
        chosen = frozenset(numbers)
        bad = sorted(n for n in chosen if n < 1)
        _check(not bad, f"at(...) takes request numbers >= 1; got {bad}")
        return cls(lambda n, r: n in chosen, f"at({', '.join(map(str, sorted(chosen)))})")

    @classmethod
    def between(cls, first: int, last: int) -> Schedule:
        """Requests ``first`` .. ``last``, both included."""
        _check(1 <= first <= last, f"between(first, last) needs 1 <= first <= last, got {first}, {last}")
        return cls(lambda n, r: first <= n <= last, f"between({first}, {last})")

    @classmethod
    def random(cls, probability: float) -> Schedule:
        """Each request independently with ``probability`` (0 never, 1 always), seeded."""
        _check(
            0.0 <= probability <= 1.0, f"random(probability) needs 0 <= probability <= 1, got {probability}"
        )
        return cls(lambda n, r: r.random() < probability, f"random({probability})")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
