"""One runtime's observability: its tracer provider and exporter, its metrics, and the gRPC
interceptors that feed them.

Each gateway, worker and client owns a :class:`Telemetry` (never the global provider), so
Executors sharing a process on the thread runtime still report under their own
``service.name``. When nothing is observed no Telemetry exists and nothing is imported.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Any

from devkit.observability.metrics import Metrics, start_metrics
from devkit.observability.spec import TelemetrySpec, exporter_endpoint

__all__ = ["Telemetry", "flush_spans", "start_telemetry"]

log = logging.getLogger("devkit.observability")

_MISSING = (
    "tracing=True and metrics=True need the OpenTelemetry SDK; install devkit's observability "
    "extra (pip install 'devkit[observability]') or remove them"
)


class Telemetry:
    """A tracer (None: tracing off) and metrics (None: off) for one runtime; :meth:`close`
    flushes what was not exported yet."""

    def __init__(self, spec: TelemetrySpec, service_name: str, host: str = "127.0.0.1") -> None:
        self.spec = spec
        self.service_name = service_name
        self.provider: Any = None
        self.tracer: Any = None
        if spec.tracing:
            self.provider, self.tracer = _tracer(spec, service_name)
            with _TRACING_LOCK:
                _TRACING.add(self)
        self.metrics: Metrics | None = None
        try:
            self.metrics = start_metrics(spec, service_name, host)
        except BaseException:
            self.close()
            raise

    def server_interceptors(self, pending: bool = False) -> list[Any]:
        """``pending``: count ``jina_number_of_pending_requests`` (gateways do)."""
        found: list[Any] = []
        if self.metrics is not None:
            from devkit.observability.metrics_grpc import MetricsServerInterceptor

            found.append(MetricsServerInterceptor(self.metrics, pending))
        if self.tracer is not None:
            from devkit.observability.grpc_tracing import TracingServerInterceptor

            found.append(TracingServerInterceptor(self.tracer))
        return found

    def client_interceptors(self, hops: bool = False, peer: str | None = None) -> list[Any]:
        """``hops``: a gateway's channels to Executors (measured with jina_sending_request_seconds);
        ``peer``: the Executor such a channel reaches, named on its spans."""
        found: list[Any] = []
        if self.tracer is not None:
            from devkit.observability.grpc_tracing import aio_client_interceptors

            found.extend(aio_client_interceptors(self.tracer, peer))
        if hops and self.metrics is not None:
            from devkit.observability.metrics_grpc import MetricsClientInterceptor

            found.append(MetricsClientInterceptor(self.metrics))
        return found

    def flush(self, timeout: float = 10.0) -> bool:
        """Export the spans that ended but wait in the batch processor (True: all went out)."""
        if self.provider is None:
            return True
        return bool(self.provider.force_flush(int(timeout * 1000)))

    def close(self) -> None:
        with _TRACING_LOCK:
            _TRACING.discard(self)
        if self.metrics is not None:
            self.metrics.close()
        if self.provider is not None:
            try:
                self.provider.shutdown()  # exports what the batch processor still holds
            except Exception as exc:  # an unreachable collector must not fail a shutdown
                log.warning("%s: exporting the last spans failed: %r", self.service_name, exc)


#: every tracing Telemetry of this process not closed yet, for :func:`flush_spans`
_TRACING: weakref.WeakSet[Telemetry] = weakref.WeakSet()
_TRACING_LOCK = threading.Lock()


def flush_spans(timeout: float = 10.0) -> bool:
    """Export now every span this process ended but still holds in a batch (clients, and
    gateways and workers on the thread runtime), so a reader of the collector sees them
    without waiting for the next export tick. True when every flush finished in time."""
    with _TRACING_LOCK:
        live = list(_TRACING)
    deadline = time.monotonic() + timeout
    flushed = True
    for telemetry in live:  # one bound for all: a collector that is gone costs it once
        flushed = telemetry.flush(max(deadline - time.monotonic(), 0.0)) and flushed
    return flushed


def _tracer(spec: TelemetrySpec, service_name: str) -> tuple[Any, Any]:
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:  # pragma: no cover - the extra is part of the test install
        raise ImportError(_MISSING) from exc
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    exporter = _span_exporter(spec)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, provider.get_tracer("devkit")


def _span_exporter(spec: TelemetrySpec) -> Any:
    """OTLP/gRPC to the configured host, else to the standard environment variables' endpoint."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    endpoint = exporter_endpoint(spec.traces_exporter_host, spec.traces_exporter_port)
    if endpoint is not None:
        return OTLPSpanExporter(endpoint=endpoint, insecure=not endpoint.startswith("https://"))
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return OTLPSpanExporter()
    return None


def start_telemetry(
    spec: TelemetrySpec | None, service_name: str, host: str = "127.0.0.1"
) -> Telemetry | None:
    """The runtime's telemetry, or None when nothing is to be observed (the zero-cost path)."""
    if spec is None or not (spec.tracing or spec.measuring):
        return None
    return Telemetry(spec, service_name, host)
