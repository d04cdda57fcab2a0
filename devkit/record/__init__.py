"""Record a gateway's requests and responses, and replay them against another Flow.

``Flow(record="DIR")`` (or ``record=Recording(dir, max_bytes=...)``, YAML ``record:``,
``devkit serve --record DIR``) writes every request the gateway answers to a file in ``DIR``;
:func:`devkit.testing.replay.replay` and ``devkit replay DIR --against flow.yml`` send them
again to another Flow and report, per request, the documents and fields that differ.
"""

from __future__ import annotations

from typing import Any

from devkit.record.spec import DEFAULT_MAX_BYTES, Recording

__all__ = ["DEFAULT_MAX_BYTES", "RecordedExchange", "Recording", "RecordingFile", "read_recording"]


def __getattr__(name: str) -> Any:
    """The reader is imported on first use: the spec alone must stay light (specs import it)."""
    if name in ("RecordedExchange", "RecordingFile", "read_recording"):
        from devkit.record import format as recording_format

        return getattr(recording_format, name)
    raise AttributeError(f"module 'devkit.record' has no attribute {name!r}")
