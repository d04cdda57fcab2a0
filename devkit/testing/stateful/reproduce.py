"""The failing run as a pasteable test: replayed, cut down to the steps it needs, printed.

Hypothesis shrinks the run, but not always down to the steps the failure needs (a leading
post can survive, as can a kill-restart pair). So the run's steps are replayed on fresh
Flows and every step whose removal still fails the same way is dropped (greedy, largest
chunks first, at most ``budget`` replays). "The same way" means the same exception type
with the same message once numbers (ids, ports) are blanked out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from devkit.testing.stateful.codegen import Code, callable_source, closure_assignments
from devkit.testing.stateful.driver import FlowDriver
from devkit.testing.stateful.steps import Step

__all__ = ["Reproduction", "minimize", "replay", "same_failure"]

_DEFAULTS: dict[str, Any] = {"seed": 0, "timeout": 30.0, "check_ids": True, "strict": False}


def replay(make_driver: Callable[[], FlowDriver], steps: Sequence[Step]) -> BaseException | None:
    """Run ``steps`` on a fresh driver; the exception the run ended with, or ``None``."""
    driver = make_driver()
    failure: BaseException | None = None
    try:
        driver.start()
        for step in steps:
            step.run(driver)
    except Exception as exc:
        failure = exc
    try:
        driver.close(check=failure is None)
    except Exception as exc:
        failure = failure or exc
    return failure


def _shape(error: BaseException) -> tuple[type[BaseException], str]:
    return type(error), re.sub(r"\d+", "#", str(error).split("\n", 1)[0])


def same_failure(a: BaseException, b: BaseException) -> bool:
    return _shape(a) == _shape(b)


def minimize(
    make_driver: Callable[[], FlowDriver], steps: Sequence[Step], failure: BaseException, budget: int = 40
) -> tuple[list[Step], BaseException | None]:
    """The fewest of ``steps`` that still fail like ``failure`` and that failure; ``None`` when
    the whole run did not fail again (a timing-dependent failure): then ``steps`` unchanged."""
    current = list(steps)
    again = replay(make_driver, current)
    if again is None or not same_failure(again, failure):
        return current, None
    budget -= 1
    size = max(1, len(current) // 2)
    while size >= 1 and budget > 0:
        start, removed = 0, False
        while start < len(current) and budget > 0:
            candidate = current[:start] + current[start + size :]
            budget -= 1
            got = replay(make_driver, candidate)
            if got is not None and same_failure(got, failure):
                current, again, removed = candidate, got, True
            else:
                start += size
        if not removed:
            size //= 2
    return current, again


@dataclass
class Reproduction:
    """A pytest test that runs ``steps`` on a :class:`FlowDriver` built like the machine's."""

    name: str
    factory: Callable[[], Any]
    options: dict[str, Any]
    steps: list[Step]
    failure: BaseException | None = None  # what it fails with, when it was replayed
    replayed: bool = False

    def source(self) -> str:
        code = Code()
        body = [step.source(code) for step in self.steps] or ["pass"]
        factory = callable_source(self.factory, code)
        setup = closure_assignments(self.factory, code)
        code.need(FlowDriver, module="devkit.testing.stateful")
        extra = "".join(
            f", {key}={value!r}"
            for key, value in self.options.items()
            if key in _DEFAULTS and value != _DEFAULTS[key]
        )
        schemas = self.options.get("schemas")
        if schemas:
            pairs = ", ".join(
                f"{endpoint!r}: ({_name(request, code)}, {_name(response, code)})"
                for endpoint, (request, response) in schemas.items()
            )
            extra += f", schemas={{{pairs}}}"
        if self.failure is not None:
            first = str(self.failure).split("\n", 1)[0]
            fails = f"# it fails with {type(self.failure).__name__}: {first}"
        elif self.replayed:
            fails = "# it did not fail again when replayed: the failure depends on timing"
        else:
            fails = "# the steps of the failing run, not replayed"
        lines = [
            "# devkit: the failing run as a test; paste it into the module that defines the Flow factory",
            fails,
            *(f"# {note}" for note in code.notes),
            *code.imports(),
            "",
            "",
            f"def test_{_snake(self.name)}_reproduction():",
            *(f"    {line}" for line in setup),
            f"    with FlowDriver({factory}, endpoints={self.options['endpoints']!r}{extra}) as driver:",
            *(f"        {line}" for line in body),
        ]
        return "\n".join(lines)


def _name(schema: Any, code: Code) -> str:
    return "None" if schema is None else code.need(schema)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))
