"""The `@requests` decorator: binds Executor methods to endpoints."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

__all__ = ["DEFAULT_ENDPOINT", "RequestsBinding", "requests"]

#: The key under which a bare ``@requests`` method is stored: it handles every endpoint
#: that no other method is bound to.
DEFAULT_ENDPOINT = "/default"

F = TypeVar("F", bound=Callable[..., Any])

_BINDING_ATTR = "__devkit_requests__"


@dataclass(frozen=True)
class RequestsBinding:
    """What `@requests(...)` recorded on a function."""

    on: tuple[str, ...]
    request_schema: Any = None
    response_schema: Any = None


def binding_of(fn: Any) -> RequestsBinding | None:
    return getattr(fn, _BINDING_ATTR, None)


def _normalise_on(on: str | Sequence[str] | None) -> tuple[str, ...]:
    if on is None:
        return (DEFAULT_ENDPOINT,)
    names = (on,) if isinstance(on, str) else tuple(on)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise TypeError(f"@requests(on=...) takes an endpoint string or a list of them, got {on!r}")
    return tuple(name if name.startswith("/") else f"/{name}" for name in names)


@overload
def requests(func: F) -> F: ...


@overload
def requests(
    func: None = None,
    *,
    on: str | Sequence[str] | None = None,
    request_schema: Any = None,
    response_schema: Any = None,
) -> Callable[[F], F]: ...


def requests(
    func: Any = None,
    *,
    on: str | Sequence[str] | None = None,
    request_schema: Any = None,
    response_schema: Any = None,
) -> Any:
    """Expose an Executor method as one or more endpoints.

    Without ``on`` the method is the default handler: it serves every endpoint that no
    other method serves. ``request_schema``/``response_schema`` override the schemas that
    are otherwise read from the type hints of ``docs``/``doc`` and of the return value.
    """

    def mark(fn: F) -> F:
        binding = RequestsBinding(_normalise_on(on), request_schema, response_schema)
        setattr(fn, _BINDING_ATTR, binding)
        return fn

    if func is not None:
        if not callable(func):
            raise TypeError(f"@requests decorates methods, got {func!r}")
        return mark(func)
    return mark
