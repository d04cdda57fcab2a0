"""The sending loop: ``concurrency`` senders, each with one request in flight, until a bound.

Each sender takes the next payload, sends it with ledger timings requested, and records a
:class:`Sample`: when it was sent, its round trip, its error kind if it failed, and its
hops (:func:`devkit.load.ledger.hops_of`). Requests are never retried: a load generator
reports failures, it does not hide them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from time import perf_counter_ns, process_time_ns
from typing import Any

from docarray import DocList
from docarray.base_doc import AnyDoc

from devkit.client.address import Address
from devkit.client.response import Response
from devkit.client.transport import ConnectionSettings, OutgoingRequest, Transport, open_transport
from devkit.errors import DevkitError
from devkit.load.ledger import hops_of
from devkit.load.spec import LoadSpec
from devkit.serve.hop_timing import LEDGER_KEY

__all__ = ["DriveResult", "LoadTargetUnreachable", "Sample", "drive", "error_kind"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One request: sent ``sent_ns`` after the run began, answered ``latency_ns`` later."""

    sent_ns: int
    latency_ns: int
    error: str | None = None
    hops: dict[str, tuple[str, int]] | None = None


def error_kind(response: Response) -> str:
    """``ValueError in exec-b``: the exception's name and the Executor that raised it."""
    exception = response.status.exception
    name = exception.name or "Error"
    return f"{name} in {exception.executor}" if exception.executor else name


def _exception_kind(transport: Transport, exc: BaseException) -> str:
    mapped = transport.map_error(exc)
    code = getattr(exc, "code", None)
    if callable(code):  # a gRPC error: its status code says more than its class
        try:
            return f"{type(mapped).__name__} ({code().name})"
        except Exception:
            pass
    return type(mapped).__name__


class _Run:
    def __init__(self, transport: Transport, spec: LoadSpec, payloads: Sequence[DocList[Any]]) -> None:
        self.transport = transport
        self.spec = spec
        self.payloads = itertools.cycle(payloads)
        self.samples: list[Sample] = []
        self.sent = 0
        self.began = perf_counter_ns()
        self.until = None if spec.duration is None else self.began + int(spec.duration * 1e9)

    def _next(self) -> tuple[DocList[Any], int] | None:
        """The next payload to send and the time it is sent, or None once a bound is reached."""
        now = perf_counter_ns()
        if self.spec.requests is not None and self.sent >= self.spec.requests:
            return None
        if self.until is not None and now >= self.until:
            return None
        self.sent += 1
        return next(self.payloads), now

    async def sender(self) -> None:
        doclist_type = DocList[AnyDoc]
        while (turn := self._next()) is not None:
            docs, sent = turn
            request = OutgoingRequest(
                request_id=uuid.uuid4().hex,
                endpoint=self.spec.endpoint,
                docs=docs,
                parameters={LEDGER_KEY: {}},
                target_executor=None,
            )
            try:
                response = await self.transport.send_one(request, doclist_type, self.spec.timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                done = perf_counter_ns()
                self.samples.append(
                    Sample(sent - self.began, done - sent, _exception_kind(self.transport, exc))
                )
                continue
            answered = perf_counter_ns()
            if response.is_error():
                self.samples.append(Sample(sent - self.began, answered - sent, error_kind(response)))
                continue
            len(response.docs)  # decode the documents, as a client would (timed as codec)
            decoded = perf_counter_ns()
            entries = response.parameters.get(LEDGER_KEY)
            hops = hops_of(
                response.routes,
                entries if isinstance(entries, dict) else {},
                decoded - sent,
                decoded - answered,
            )
            self.samples.append(Sample(sent - self.began, decoded - sent, None, hops))


class LoadTargetUnreachable(DevkitError, ConnectionError):
    """The load target does not answer."""


async def _reach(transport: Transport, address: Address) -> None:
    """Connect (and learn the peer's codec) before the clock starts; a target that is not
    there fails the run at once rather than as one error per request."""
    try:
        await transport.prepare()
    except Exception as exc:
        mapped = transport.map_error(exc)
        if isinstance(mapped, DevkitError):
            raise mapped from exc
        raise LoadTargetUnreachable(
            f"cannot reach the load target {address.protocol}://{address.target}: {type(exc).__name__}: {exc}; "
            "start it first, or check the address and --protocol"
        ) from exc


@dataclass(frozen=True)
class DriveResult:
    """The samples in completion order, the run's length, and the CPU time the load
    generator's process used meanwhile (a client near one core is its own bottleneck)."""

    samples: list[Sample]
    elapsed_ns: int
    cpu_ns: int


async def drive(address: Address, spec: LoadSpec, payloads: Sequence[DocList[Any]]) -> DriveResult:
    """Run the load against ``address`` until a bound of ``spec``."""
    transport = open_transport(address, ConnectionSettings(prefetch=spec.concurrency))
    try:
        await _reach(transport, address)
        if spec.warmup:
            warmup = _Run(transport, dataclasses.replace(spec, requests=spec.warmup, duration=None), payloads)
            await asyncio.gather(*(warmup.sender() for _ in range(min(spec.concurrency, spec.warmup))))
        cpu = process_time_ns()
        run = _Run(transport, spec, payloads)
        await asyncio.gather(*(run.sender() for _ in range(spec.concurrency)))
        return DriveResult(run.samples, perf_counter_ns() - run.began, process_time_ns() - cpu)
    finally:
        await transport.close()
