"""Every span a test produced, collected in memory by a real OTLP/gRPC receiver.

The receiver is opentelemetry-proto's ``TraceService`` on a loopback port; gateways,
workers and clients export to it over OTLP exactly as they would to a collector, from
threads and child processes alike. :class:`Spans` then answers questions about the trace:
``spans.named('/index')``, ``spans.tree()``, durations and error statuses.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc

__all__ = ["OtlpReceiver", "Span", "Spans"]

_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


@dataclass(frozen=True)
class Span:
    """One finished span as the receiver got it."""

    name: str
    service: str
    trace_id: str
    span_id: str
    parent_id: str | None
    kind: str
    start_ns: int
    end_ns: int
    error: bool
    status_message: str
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Seconds between start and end."""
        return (self.end_ns - self.start_ns) / 1e9


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return (
        getattr(value, kind)
        if kind in {"string_value", "bool_value", "int_value", "double_value"}
        else str(value)
    )


def _spans_of(request: Any) -> list[Span]:
    found = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        service = str(resource.get("service.name", ""))
        for scope in resource_spans.scope_spans:
            for span in scope.spans:
                found.append(
                    Span(
                        name=span.name,
                        service=service,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex() or None,
                        kind=_KINDS.get(span.kind, str(span.kind)),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        error=span.status.code == 2,  # STATUS_CODE_ERROR
                        status_message=span.status.message,
                        attributes={a.key: _value(a.value) for a in span.attributes},
                    )
                )
    return found


_GRPC_ERROR = re.compile(r'status = StatusCode\.(\w+).*?details = "(.*?)"', re.DOTALL)


def _one_line(message: str) -> str:
    """A status message on one line: a gRPC error as ``CODE: details``, else its words joined."""
    found = _GRPC_ERROR.search(message)
    if found is not None:
        return f"{found.group(1)}: {found.group(2)}"
    return " ".join(message.split())


class Spans:
    """The spans received so far; every query sees the ones that arrived since."""

    def __init__(self) -> None:
        self._spans: list[Span] = []
        self._changed = threading.Condition()
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def endpoint(self) -> str:
        """What ``traces_exporter_host`` takes (``traces_exporter_port`` is :attr:`port`)."""
        return f"http://{self.host}"

    def add(self, spans: list[Span]) -> None:
        with self._changed:
            self._spans.extend(spans)
            self._changed.notify_all()

    @property
    def all(self) -> list[Span]:
        with self._changed:
            return list(self._spans)

    def __len__(self) -> int:
        return len(self.all)

    def __iter__(self) -> Iterator[Span]:
        return iter(self.all)

    def named(self, name: str) -> list[Span]:
        return [span for span in self.all if span.name == name]

    def errors(self) -> list[Span]:
        return [span for span in self.all if span.error]

    def parent_of(self, span: Span) -> Span | None:
        return next((s for s in self.all if s.span_id == span.parent_id), None)

    def children(self, span: Span) -> list[Span]:
        return sorted((s for s in self.all if s.parent_id == span.span_id), key=lambda s: s.start_ns)

    def wait_for(self, condition: Callable[[Spans], bool], timeout: float = 10.0) -> Spans:
        """Block until ``condition(self)`` holds (spans arrive in batches); else AssertionError."""
        with self._changed:
            if not self._changed.wait_for(lambda: condition(self._unlocked()), timeout=timeout):
                raise AssertionError(
                    f"the spans never satisfied the condition within {timeout:g} s; got:\n{self.tree()}"
                )
        return self

    def wait_for_named(self, name: str, count: int = 1, timeout: float = 10.0) -> list[Span]:
        """Wait until ``count`` spans called ``name`` arrived; return them."""
        self.wait_for(lambda spans: len(spans.named(name)) >= count, timeout)
        return self.named(name)

    def _unlocked(self) -> Spans:
        view = Spans()
        view._spans = self._spans
        return view

    def trace_ids(self) -> list[str]:
        """Every trace, in the order their first span started (the last request's is last)."""
        first: dict[str, int] = {}
        for span in self.all:
            first[span.trace_id] = min(first.get(span.trace_id, span.start_ns), span.start_ns)
        return sorted(first, key=first.__getitem__)

    def last_trace_id(self) -> str | None:
        """The trace of the request that started last, None before any span arrived."""
        ids = self.trace_ids()
        return ids[-1] if ids else None

    def complete(self, trace_id: str) -> bool:
        """Whether the trace's spans have all arrived, as far as the spans can tell.

        Spans come in batches, from each process on its own: the root and every parent must be
        there, and each call that got an answer (no error, or an error its server answered
        with, which names the Executor) its server's span. A call that failed on the way
        (an injected fault, a dead peer) has none to wait for.
        """
        spans = [s for s in self.all if s.trace_id == trace_id]
        ids = {s.span_id for s in spans}
        parents = {s.parent_id for s in spans}
        answered = [
            s for s in spans if s.kind == "CLIENT" and (not s.error or "jina.executor" in s.attributes)
        ]
        return (
            any(s.parent_id is None for s in spans)
            and all(s.parent_id is None or s.parent_id in ids for s in spans)
            and all(call.span_id in parents for call in answered)
        )

    def tree(self, trace_id: str | None = None) -> str:
        """The traces as indented text, children in start order; a call names the server it
        reached, an error the Executor it came from (when the span knows it)::

        /jina.JinaRPC/Call [client] CLIENT -> Flow/gateway 4.1 ms
          /jina.JinaRPC/Call [Flow/gateway] SERVER 3.2 ms
        """
        spans = [s for s in self.all if trace_id is None or s.trace_id == trace_id]
        ids = {s.span_id for s in spans}
        roots = sorted((s for s in spans if s.parent_id not in ids), key=lambda s: s.start_ns)
        lines: list[str] = []

        def walk(span: Span, depth: int) -> None:
            children = sorted((s for s in spans if s.parent_id == span.span_id), key=lambda s: s.start_ns)
            # a call names the server it reached (a hop: which Executor), when that one traced it
            peers = [c.service for c in children if c.kind == "SERVER" and c.service != span.service]
            if not peers and "peer.service" in span.attributes:  # the call never reached it
                peers = [str(span.attributes["peer.service"])]
            peer = f" -> {', '.join(dict.fromkeys(peers))}" if span.kind == "CLIENT" and peers else ""
            flag = f" ERROR {_one_line(span.status_message)}" if span.error else ""
            if span.error and "jina.executor" in span.attributes:
                flag += f" (Executor {span.attributes['jina.executor']})"
            lines.append(
                f"{'  ' * depth}{span.name} [{span.service}] {span.kind}{peer} "
                f"{span.duration * 1e3:.1f} ms{flag}"
            )
            for child in children:
                walk(child, depth + 1)

        for root in roots:
            walk(root, 0)
        return "\n".join(lines)

    def shape(self, trace_id: str | None = None) -> list[str]:
        """:meth:`tree` without durations and errors: a stable picture to compare in a test."""
        spans = [s for s in self.all if trace_id is None or s.trace_id == trace_id]
        ids = {s.span_id for s in spans}
        roots = sorted((s for s in spans if s.parent_id not in ids), key=lambda s: s.start_ns)
        lines: list[str] = []

        def walk(span: Span, depth: int) -> None:
            lines.append(f"{'  ' * depth}{span.name} {span.kind}")
            for child in sorted((s for s in spans if s.parent_id == span.span_id), key=lambda s: s.start_ns):
                walk(child, depth + 1)

        for root in roots:
            walk(root, 0)
        return lines


class OtlpReceiver:
    """An OTLP/gRPC trace receiver on a loopback port, feeding a :class:`Spans`."""

    def __init__(self, spans: Spans | None = None) -> None:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

        self.spans = spans if spans is not None else Spans()
        collected = self.spans

        class _Service(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:  # the proto's name
                collected.add(_spans_of(request))
                return trace_service_pb2.ExportTraceServiceResponse()

        # not named devkit-*: the leak check looks for servers the test started, and the
        # fixture stops this receiver only after that check, whatever the fixtures' order
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="otlp-receiver")
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Service(), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.spans.port = self.port

    def start(self) -> OtlpReceiver:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(None).wait()
