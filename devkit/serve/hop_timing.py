"""Per-request timings of one worker, sent back only when the request asks for them.

A load generator that wants to know where a request's time went puts an empty struct
under :data:`LEDGER_KEY` in the request's parameters. Each worker that sees it stamps
``time.monotonic_ns()`` at four points (arrival, documents decoded, method started and
ended) and, on the way out, adds one entry under :data:`LEDGER_KEY` naming itself:
durations in nanoseconds of ``decode``, ``queue`` (waiting for the Executor's thread),
``method`` (for a dynamically batched request: the batch's wait and run, which another
request's task makes) and ``encode`` (results and documents written back), and their sum
``total``. A request without the key costs one map lookup; nothing else is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic_ns
from typing import TypeVar

from devkit.proto import jina_pb2

__all__ = ["GATEWAY_ENTRY", "LEDGER_KEY", "HopTimer", "report_front_end_decode", "timed_call", "wants_ledger"]

#: The parameters key that asks for timings (an empty struct) and carries them back.
LEDGER_KEY = "__devkit_ledger__"

T = TypeVar("T")


#: The entry a gateway's front-end adds: how long it decoded the client's request (HTTP's JSON).
GATEWAY_ENTRY = "gateway"


def wants_ledger(request: jina_pb2.DataRequestProto) -> bool:
    """Whether the request asks its workers for their timings."""
    return LEDGER_KEY in request.parameters.fields  # reading an unset field sets nothing


class HopTimer:
    """The stamps of one request in one worker (monotonic nanoseconds; 0: not reached)."""

    __slots__ = ("arrived", "called", "decoded", "method_end", "method_start")

    def __init__(self) -> None:
        self.arrived = monotonic_ns()
        self.decoded = 0
        self.method_start = 0
        self.method_end = 0
        self.called = 0  # the endpoint's outcome is back in the request's task

    def parts(self, finished: int) -> dict[str, float]:
        """Durations in ns that add up to ``total``. A call the request's task did not make
        (a dynamic batch) has no method stamps: its whole wait counts as method time."""
        decoded = self.decoded or finished
        called = self.called or decoded
        if self.method_start and self.method_end:
            queue, method, after = (
                self.method_start - decoded,
                self.method_end - self.method_start,
                self.method_end,
            )
        else:
            queue, method, after = 0, called - decoded, called
        return {
            "decode": float(decoded - self.arrived),
            "queue": float(max(0, queue)),
            "method": float(max(0, method)),
            "encode": float(max(0, finished - after)),
            "total": float(finished - self.arrived),
        }

    def report(self, response: jina_pb2.DataRequestProto, name: str) -> None:
        """Add this worker's entry under :data:`LEDGER_KEY` of ``response``'s parameters."""
        parts = self.parts(monotonic_ns())
        response.parameters.get_or_create_struct(LEDGER_KEY).get_or_create_struct(name).update(parts)


def timed_call(fn: Callable[[], T], timer: HopTimer) -> Callable[[], T]:
    """``fn`` stamping when it starts and ends, wherever it runs (the Executor's thread or inline)."""

    def call() -> T:
        timer.method_start = monotonic_ns()
        try:
            return fn()
        finally:
            timer.method_end = monotonic_ns()

    return call


def report_front_end_decode(request: jina_pb2.DataRequestProto, began_ns: int) -> None:
    """A front-end that built ``request`` from the client's body since ``began_ns``
    (monotonic) records that as the gateway's decode, when the request asks for timings."""
    if wants_ledger(request):
        entry = request.parameters.get_or_create_struct(LEDGER_KEY).get_or_create_struct(GATEWAY_ENTRY)
        entry.update({"decode": float(monotonic_ns() - began_ns)})
