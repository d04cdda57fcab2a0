"""Replay a recording against another Flow and report, per request, what differs.

Each recorded request is sent again, in the recorded order, one at a time (so a stateful
Executor sees what it saw), with the recorded endpoint, target_executor, parameters and
documents. The answer is compared with the recorded one: status (and the error's class),
documents field by field with :func:`devkit.testing.assertions.describe_differences`, and the
response parameters; numbers within ``abs_tol``/``rel_tol`` are equal, ``volatile`` fields
(ids, timestamps) are not compared.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from devkit.record.format import RecordedExchange, RecordingFile, read_recording
from devkit.testing.assertions import Tolerance, describe_differences, describe_value_differences

__all__ = ["ReplayReport", "RequestReport", "replay"]


@dataclass(frozen=True)
class RequestReport:
    """One replayed request: where it went, and each difference found (none: as recorded)."""

    number: int  # its place in the replay (a folder's files follow each other)
    seq: int  # its place in its recording file
    request_id: str
    endpoint: str
    target_executor: str
    documents: int
    differences: tuple[str, ...] = ()
    source: str = ""

    @property
    def same(self) -> bool:
        return not self.differences

    def title(self) -> str:
        target = f" target_executor={self.target_executor!r}" if self.target_executor else ""
        return f"request #{self.number} {self.endpoint}{target} (request_id {self.request_id}, {self.documents} docs)"


@dataclass
class ReplayReport:
    """Every replayed request's :class:`RequestReport`; ``ok`` when none differs."""

    target: str
    requests: list[RequestReport] = field(default_factory=list)
    #: what the recording itself says is missing (a file cut short, requests not recorded)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(report.same for report in self.requests)

    @property
    def differing(self) -> list[RequestReport]:
        return [report for report in self.requests if not report.same]

    def render(self) -> str:
        """The readable report: a summary line, then each differing request with its differences."""
        differing = self.differing
        lines = [
            f"replayed {len(self.requests)} request(s) against {self.target}: "
            + (f"{len(differing)} differ" if differing else "all answered as recorded")
        ]
        for report in differing:
            lines.append(report.title())
            lines.extend(f"  {difference}" for difference in report.differences)
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)

    __str__ = render

    def assert_same(self) -> None:
        """Fail with the report when any request was answered differently."""
        __tracebackhide__ = True
        if not self.ok:
            raise AssertionError(self.render())


def _address(target: Any, protocol: str | None) -> tuple[str, str]:
    """``(address, protocol)`` of a started Flow/Deployment or an address like ``http://host:port``."""
    ports = getattr(target, "ports_by_protocol", None)
    if ports is not None:
        if not ports:
            raise ValueError(
                f"{type(target).__name__} {getattr(target, 'name', '')!r} is not started; start it, then replay"
            )
        chosen = protocol or next(iter(ports))
        if chosen not in ports:
            raise ValueError(
                f"{type(target).__name__} {getattr(target, 'name', '')!r} does not serve {chosen!r}; "
                f"it serves {', '.join(ports)}: pass protocol= one of those"
            )
        scheme = {"grpc": "grpc", "http": "http", "websocket": "ws"}[chosen]
        return f"{scheme}://{target.front_address(chosen)}", chosen
    if isinstance(target, str):
        from devkit.client.address import parse_address

        address = parse_address(target, None, protocol, False)
        return target, address.protocol
    raise TypeError(
        f"replay needs a started Flow or Deployment, or an address like 'grpc://host:port'; got {target!r}"
    )


def _error_text(name: str, executor: str, description: str) -> str:
    where = f" from {executor!r}" if executor else ""
    first = description.strip().splitlines()[0] if description.strip() else ""
    return f"ERROR ({name}{where}{': ' + first[:120] if first else ''})"


def _compare(exchange: RecordedExchange, response: Any, tolerance: Tolerance) -> list[str]:
    recorded = exchange.error
    if response.is_error():
        status = response.status
        name, executor = status.exception.name or "Error", status.exception.executor
        if recorded is None:
            return [f"status: {_error_text(name, executor, status.description)}, recorded SUCCESS"]
        if name != recorded.name:
            return [f"error: {name} from {executor!r}, recorded {recorded.name} from {recorded.executor!r}"]
        return []  # failed as recorded; its documents are the ones sent
    if recorded is not None:
        return [
            f"status: SUCCESS, recorded {_error_text(recorded.name, recorded.executor, recorded.description)}"
        ]
    lines = describe_differences(
        response.docs,
        exchange.response_docs,
        ignore=tolerance.ignore,
        abs_tol=tolerance.abs_tol,
        rel_tol=tolerance.rel_tol,
        limit=None,
    )
    for path, what in describe_value_differences(
        response.parameters, exchange.response_parameters, tolerance
    ):
        lines.append(f"parameter {path!r} {what}")
    return lines


def _replay_one(
    client: Any, exchange: RecordedExchange, tolerance: Tolerance, timeout: float | None
) -> list[str]:
    docs = exchange.docs
    responses: list[Any] = []  # callbacks take failed answers too, without raising or logging
    try:
        client.post(
            exchange.endpoint,
            inputs=docs if len(docs) else None,
            parameters=exchange.parameters or None,
            target_executor=exchange.target_executor or None,
            request_size=max(1, len(docs)),
            on_done=responses.append,
            on_error=responses.append,
            timeout=timeout,
        )
    except Exception as exc:  # the request did not get an answer at all: that is the difference
        if exchange.error is not None and type(exc).__name__ == exchange.error.name:
            return []
        recorded = "SUCCESS" if exchange.error is None else f"ERROR ({exchange.error.name})"
        return [
            f"no answer: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}, recorded {recorded}"
        ]
    if len(responses) != 1:
        return [f"got {len(responses)} responses, recorded 1"]
    return _compare(exchange, responses[0], tolerance)


def replay(
    recording: str | os.PathLike[str] | RecordingFile,
    target: Any,
    *,
    protocol: str | None = None,
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
    volatile: Sequence[str] = ("id",),
    timeout: float | None = None,
) -> ReplayReport:
    """Send every request of ``recording`` (a file, a folder of them, or one already read) to
    ``target`` (a started Flow or Deployment, or an address such as ``'http://127.0.0.1:12345'``)
    and compare each answer with the recorded one.

    ``protocol`` picks one of a Flow's protocols (default: its first); numbers within
    ``abs_tol``/``rel_tol`` count as equal; ``volatile`` names fields never compared
    (a plain name at any depth, or a dotted path such as ``tags.created``; default ``id``);
    ``timeout``: seconds each request may take.
    """
    from devkit.client.sync_client import Client

    read = recording if isinstance(recording, RecordingFile) else read_recording(recording)
    address, chosen = _address(target, protocol)
    tolerance = Tolerance(abs_tol=abs_tol, rel_tol=rel_tol, ignore=tuple(volatile))
    report = ReplayReport(target=address, notes=list(read.notes))
    if not read.exchanges:
        report.notes.append("the recording holds no requests: nothing was compared")
    client = Client(host=address, protocol=chosen)
    try:
        for number, exchange in enumerate(read):
            report.requests.append(
                RequestReport(
                    number=number,
                    seq=exchange.seq,
                    request_id=exchange.request_id,
                    endpoint=exchange.endpoint,
                    target_executor=exchange.target_executor,
                    documents=len(exchange.docs),
                    differences=tuple(_replay_one(client, exchange, tolerance, timeout)),
                    source=exchange.source,
                )
            )
    finally:
        client.close()
    return report
