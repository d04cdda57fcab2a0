"""The gateway's recorder: requests and responses to a file, written by a thread of its own.

The event loop only serialises the two protobufs (a copy of their bytes) and hands them to a
bounded queue; decoding, re-encoding documents into devkit's codec, packing and file writes
happen on the writer thread. When the file would outgrow ``max_bytes`` recording stops, and
the log says so once; a writer that falls behind drops requests rather than hold the loop.
"""

from __future__ import annotations

import itertools
import logging
import os
import pathlib
import queue
import re
import threading
import time
from typing import BinaryIO

from devkit.record.format import FORMAT, SUFFIX, VERSION, exchange_record, pack
from devkit.record.spec import Recording

__all__ = ["Recorder"]

log = logging.getLogger("devkit.record")

#: requests waiting for the writer at most; beyond, requests go unrecorded (and the log says so)
QUEUE_LIMIT = 1024
#: room kept for the end record, so that the file never exceeds ``max_bytes``
_END_ROOM = 256
_WRITE_BUFFER = 1024 * 1024
_counter = itertools.count()

_Item = tuple[bytes, bytes, float, float]


def _file_name(gateway: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", gateway).strip("_") or "gateway"
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{safe}-{stamp}-{os.getpid()}-{next(_counter)}{SUFFIX}"


class Recorder:
    """Records a gateway's exchanges into a new file in ``spec.dir``; ``close`` ends the file."""

    def __init__(self, spec: Recording, gateway: str) -> None:
        self.spec = spec
        folder = pathlib.Path(spec.dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(
                f"cannot create the recording folder {spec.dir!r} of gateway {gateway!r}: {exc}; "
                "pass record= a writable folder"
            ) from exc
        self.path = folder / _file_name(gateway)
        #: set once the file is full: the gateway then stops even serialising requests
        self.full = False
        self.recorded = 0
        self.not_recorded = 0
        self._reason: str | None = None
        self._counting = threading.Lock()  # the loop and the writer both count unrecorded requests
        self._queue: queue.Queue[_Item | None] = queue.Queue(QUEUE_LIMIT)
        self._file: BinaryIO = open(self.path, "wb", buffering=_WRITE_BUFFER)  # noqa: SIM115  # closed by close()
        self._written = self._write(
            pack(
                {
                    "type": "header",
                    "format": FORMAT,
                    "version": VERSION,
                    "gateway": gateway,
                    "started": time.time(),
                    "max_bytes": spec.max_bytes,
                }
            )
        )
        self._file.flush()
        self._thread = threading.Thread(target=self._run, name=f"devkit-recorder-{gateway}", daemon=True)
        self._thread.start()
        log.info("recording gateway %r to %s (at most %d bytes)", gateway, self.path, spec.max_bytes)

    # -- the event loop's side ------------------------------------------------------------
    def accepting(self) -> bool:
        """Whether to record the next request: False once the file is full (counted, not logged again)."""
        if self.full:
            self._skip("")
            return False
        return True

    def record(self, request: bytes, response: bytes, started: float, duration: float) -> None:
        """Hand one exchange to the writer; never blocks (a full queue drops it, once logged)."""
        try:
            self._queue.put_nowait((request, response, started, duration))
        except queue.Full:
            self._skip(
                f"the writer fell behind (more than {QUEUE_LIMIT} requests waiting); "
                "requests are not recorded until it catches up"
            )

    def close(self) -> None:
        """Write what is queued and the end record, then close the file (blocks: call off the loop)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._file.closed:
            return
        end = {
            "type": "end",
            "recorded": self.recorded,
            "not_recorded": self.not_recorded,
            "reason": self._reason,
        }
        self._write(pack(end))
        self._file.close()
        log.info(
            "recording %s closed: %d request(s) recorded%s",
            self.path,
            self.recorded,
            f", {self.not_recorded} not recorded ({self._reason})" if self.not_recorded else "",
        )

    # -- the writer thread ----------------------------------------------------------------
    def _run(self) -> None:
        seq = 0
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self.full:
                self._skip("")
                continue
            try:
                record = exchange_record(seq, *item)
            except Exception:  # a request nobody foresaw must not end the recording
                log.exception("recording %s: could not encode a request; it is not recorded", self.path)
                with self._counting:
                    self.not_recorded += 1
                continue
            if self._written + len(record) + _END_ROOM > self.spec.max_bytes:
                self.full = True
                self._skip(
                    f"the file is full (max_bytes={self.spec.max_bytes}); later requests are not recorded"
                )
                continue
            self._written += self._write(record)
            self.recorded += 1
            seq += 1
            if self._queue.empty():
                self._file.flush()  # a reader sees every answered request once the gateway is idle

    def _write(self, data: bytes) -> int:
        self._file.write(data)
        return len(data)

    def _skip(self, reason: str) -> None:
        """Count a request not recorded; the first ``reason`` is logged, once."""
        with self._counting:
            self.not_recorded += 1
            first = self._reason is None and bool(reason)
            if first:
                self._reason = reason
        if first:
            log.warning("recording %s, after %d request(s): %s", self.path, self.recorded, reason)
