"""``target_executor``: a regular expression matched (``re.match``) against Executor names.

One rule for both ends: the client refuses an invalid pattern before sending anything, and
the gateway answers a request carrying one (from any client) with an error status.
"""

from __future__ import annotations

import re

__all__ = ["InvalidTargetExecutorError", "compile_target_executor"]


class InvalidTargetExecutorError(ValueError):
    """``target_executor`` is not a valid regular expression."""


def compile_target_executor(value: str | None) -> re.Pattern[str] | None:
    """The compiled pattern (``None`` for no target); raises :class:`InvalidTargetExecutorError`."""
    if not value:
        return None
    try:
        return re.compile(value)  # re caches compiled patterns: no cost per request
    except re.error as exc:
        raise InvalidTargetExecutorError(
            f"target_executor {value!r} is not a valid regular expression ({exc}); it is matched "
            "against Executor names from their start: pass a name, or escape it with re.escape"
        ) from exc
