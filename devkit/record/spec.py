"""The typed recording option of a gateway: where to write and how much at most."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

__all__ = ["DEFAULT_MAX_BYTES", "Recording"]

#: What one recording file may grow to unless told otherwise: enough for thousands of
#: requests, small enough that a forgotten ``record=`` cannot fill a disk.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class Recording(BaseModel):
    """``record=`` of a Flow, Deployment or gateway: record every request and its response
    into a new file in folder ``dir``, stopping (and saying so once) at ``max_bytes``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dir: str
    max_bytes: int = DEFAULT_MAX_BYTES

    @model_validator(mode="before")
    @classmethod
    def _from_path(cls, value: Any) -> Any:
        """``record="DIR"`` (or a path) is ``Recording(dir="DIR")``."""
        if isinstance(value, (str, os.PathLike)):
            return {"dir": os.fspath(value)}
        return value

    @field_validator("dir")
    @classmethod
    def _absolute(cls, value: str) -> str:
        """Absolute, so a gateway in a child process with another working folder writes there too."""
        if not value:
            raise ValueError("record needs a folder to write the recording into, got ''")
        return os.path.abspath(value)

    @field_validator("max_bytes")
    @classmethod
    def _room(cls, value: int) -> int:
        if value < 4096:
            raise ValueError(
                f"record max_bytes must be at least 4096 (one request and the file's header), got {value}"
            )
        return value
