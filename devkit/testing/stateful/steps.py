"""Steps of a fuzzing run as data: each is one FlowDriver call that can run and print itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devkit.testing.stateful.codegen import Code

if TYPE_CHECKING:
    from devkit.testing.stateful.driver import FlowDriver

__all__ = ["Step"]


@dataclass(frozen=True)
class Step:
    """``driver.<method>(*args, **kwargs)``; keyword arguments that are ``None`` are left out."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, method: str, *args: Any, **kwargs: Any) -> Step:
        return cls(method, args, tuple((k, v) for k, v in kwargs.items() if v is not None))

    def run(self, driver: FlowDriver) -> Any:
        return getattr(driver, self.method)(*self.args, **dict(self.kwargs))

    def source(self, code: Code) -> str:
        """The call as it appears in a printed test."""
        parts = [code.value(arg) for arg in self.args] + [f"{k}={code.value(v)}" for k, v in self.kwargs]
        return f"driver.{self.method}({', '.join(parts)})"

    def __str__(self) -> str:
        return self.source(Code())
