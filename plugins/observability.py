"""The ``spans`` and ``metrics`` fixtures: what every thread and process of the test traced and measured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devkit.observability.telemetry import flush_spans
from devkit.testing.metrics import MetricValues, OtlpMetricsReceiver
from devkit.testing.spans import OtlpReceiver, Spans

__all__ = ["metrics", "spans", "trace_section"]

#: the bound on a failing test's report waiting for its last request's spans from processes
#: still running (a condition wait: it ends as soon as the trace is complete)
SETTLE_SECONDS = 10.0


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spans]:
    """Collect the spans of ``tracing=True`` Flows, Deployments and Clients built in the test.

    A real OTLP/gRPC receiver listens on a loopback port; the standard OpenTelemetry
    variables point every runtime started by the test at it (children inherit them), so
    ``Flow(tracing=True)`` needs no exporter options; ``traces_exporter_host=spans.endpoint,
    traces_exporter_port=spans.port`` names it explicitly. Spans are exported every 10 ms.
    """
    receiver = OtlpReceiver().start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{receiver.port}")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "10")
    try:
        yield receiver.spans
    finally:
        receiver.stop()


@pytest.fixture
def metrics(monkeypatch: pytest.MonkeyPatch) -> Iterator[MetricValues]:
    """Metric values of ``metrics=True`` runtimes built in the test, and Prometheus scrapes.

    A real OTLP/gRPC metrics receiver listens on a loopback port; the standard OpenTelemetry
    variables point every runtime at it and export every 50 ms. ``metrics.value(name, ...)``
    reads what arrived, ``metrics.wait_for(condition)`` waits for it, and
    ``metrics.scrape(port)`` reads a ``monitoring=True`` runtime's ``/metrics`` over HTTP.
    """
    receiver = OtlpMetricsReceiver().start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", f"http://127.0.0.1:{receiver.port}")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "50")
    try:
        yield receiver.values
    finally:
        receiver.stop()


def trace_section(collected: Spans, settle: float = SETTLE_SECONDS) -> str | None:
    """The last request's trace as an indented tree, for a failing test's report (None: no span).

    Spans are exported in batches (every 10 ms here). This process's batches (the client's
    span, thread-runtime gateways and workers) are flushed first, so they are all there; a
    closed runtime flushed its own. Only spans of child processes still running can be in
    flight: the report waits up to ``settle`` seconds for the last trace to have its root,
    every parent and every answered call's server span, and says so if it did not.
    """
    flush_spans()

    def settled(view: Spans) -> bool:
        last = view.last_trace_id()
        return last is not None and view.complete(last)

    try:
        collected.wait_for(settled, timeout=settle)
        missing = ""
    except AssertionError:
        missing = (
            f"\n(after {settle:g} s some spans were still missing: in flight, or a server that "
            "does not trace; the tree may lack them)"
        )
    last = collected.last_trace_id()
    if last is None:
        return None
    mine = [span for span in collected if span.trace_id == last]
    traces = len(collected.trace_ids())
    errors = sum(span.error for span in mine)
    return (
        f"last request's trace {last} ({len(mine)} spans, {errors} with an error; "
        f"{traces} trace{'s' if traces != 1 else ''} in the test):\n{collected.tree(last)}{missing}"
    )
