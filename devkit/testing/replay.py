"""Differential testing in pytest: replay a recording against another Flow.

``report = replay("recording/", flow)`` then ``report.assert_same()`` (or inspect
``report.differing``); see :mod:`devkit.record` for making the recording.
"""

from devkit.record.format import RecordedExchange, RecordingFile, read_recording
from devkit.record.replay import ReplayReport, RequestReport, replay
from devkit.record.spec import Recording

__all__ = [
    "RecordedExchange",
    "Recording",
    "RecordingFile",
    "ReplayReport",
    "RequestReport",
    "read_recording",
    "replay",
]
