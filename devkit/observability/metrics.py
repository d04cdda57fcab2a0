"""One runtime's metrics, with jina's names: Prometheus ``/metrics`` and/or OTLP export.

``monitoring=True, port_monitoring=`` serves jina's legacy Prometheus names (MON-13:
Summaries, counters with ``_total``); ``metrics=True`` exports the same names as OTel
Histograms and Counters over OTLP/gRPC every ``OTEL_METRIC_EXPORT_INTERVAL`` ms (default
60,000, as jina; set it lower to see them sooner). Every series carries ``runtime_name``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devkit.errors import PortInUseError
from devkit.observability.spec import TelemetrySpec, exporter_endpoint

__all__ = ["CATALOGUE", "MetricKind", "Metrics", "start_metrics"]

log = logging.getLogger("devkit.observability")


@dataclass(frozen=True)
class MetricKind:
    kind: str  # "time" (seconds), "bytes", "count" (monotonic), "updown"
    documentation: str
    per_endpoint: bool = False  # labelled with executor and executor_endpoint too


#: jina's metric names (MON-11, MON-12) and what each measures
CATALOGUE: dict[str, MetricKind] = {
    "jina_receiving_request_seconds": MetricKind("time", "Time from receiving a request to answering it"),
    "jina_sending_request_seconds": MetricKind("time", "Time the gateway waits for an Executor's answer"),
    "jina_process_request_seconds": MetricKind(
        "time", "Time spent in the Executor method", per_endpoint=True
    ),
    "jina_document_processed": MetricKind("count", "Documents processed by the Executor", per_endpoint=True),
    "jina_successful_requests": MetricKind("count", "Requests answered without an error"),
    "jina_failed_requests": MetricKind("count", "Requests answered with an error"),
    "jina_number_of_pending_requests": MetricKind("updown", "Requests received and not answered yet"),
    "jina_received_request_bytes": MetricKind("bytes", "Size of the requests received"),
    "jina_sent_response_bytes": MetricKind("bytes", "Size of the answers sent"),
    "jina_sent_request_bytes": MetricKind("bytes", "Size of the requests the gateway sends to Executors"),
    "jina_received_response_bytes": MetricKind(
        "bytes", "Size of the answers the gateway receives from Executors"
    ),
}

_RUNTIME_LABELS = ("runtime_name",)
_ENDPOINT_LABELS = ("runtime_name", "executor", "executor_endpoint")
_created_off = threading.Lock()


class _Prometheus:
    """A private registry (several runtimes share a process on the thread runtime) served over HTTP."""

    def __init__(self, host: str, port: int, what: str) -> None:
        import prometheus_client

        with _created_off:  # the *_created series are noise for dashboards: one series per value
            prometheus_client.disable_created_metrics()
        self.registry = prometheus_client.CollectorRegistry(auto_describe=True)
        self._instruments: dict[str, Any] = {}
        try:
            self.server, self.thread = prometheus_client.start_http_server(
                port, addr=host, registry=self.registry
            )
        except OSError as exc:
            raise PortInUseError(
                f"{what} cannot serve /metrics on {host}:{port}: {exc.strerror or exc}; "
                "choose another port_monitoring"
            ) from exc
        self.port = int(self.server.server_address[1])

    def instrument(self, name: str, kind: str, documentation: str, labels: tuple[str, ...]) -> Any:
        found = self._instruments.get(name)
        if found is None:
            import prometheus_client

            make = {
                "time": prometheus_client.Summary,
                "bytes": prometheus_client.Summary,
                "count": prometheus_client.Counter,
                "updown": prometheus_client.Gauge,
            }[kind]
            found = self._instruments[name] = make(name, documentation, labels, registry=self.registry)
        return found

    def record(
        self, name: str, kind: str, documentation: str, value: float, labels: Mapping[str, str]
    ) -> None:
        metric = self.instrument(name, kind, documentation, tuple(labels)).labels(**labels)
        if kind in ("time", "bytes"):
            metric.observe(value)
        else:
            metric.inc(value)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5.0)


class _Otlp:
    """OTel instruments exported periodically over OTLP/gRPC."""

    def __init__(self, spec: TelemetrySpec, service_name: str) -> None:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource

        endpoint = exporter_endpoint(spec.metrics_exporter_host, spec.metrics_exporter_port)
        exporter = (
            OTLPMetricExporter(endpoint=endpoint, insecure=not endpoint.startswith("https://"))
            if endpoint is not None
            else OTLPMetricExporter()
        )
        interval = float(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "60000"))
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=interval)
        self.provider = MeterProvider(
            metric_readers=[reader], resource=Resource.create({SERVICE_NAME: service_name})
        )
        self.meter = self.provider.get_meter("devkit")
        self._instruments: dict[str, Any] = {}

    def record(
        self, name: str, kind: str, documentation: str, value: float, labels: Mapping[str, str]
    ) -> None:
        found: Any = self._instruments.get(name)
        if found is None:
            if kind in ("time", "bytes"):
                found = self.meter.create_histogram(name, "s" if kind == "time" else "By", documentation)
            elif kind == "count":
                found = self.meter.create_counter(name, description=documentation)
            else:
                found = self.meter.create_up_down_counter(name, description=documentation)
            self._instruments[name] = found
        if kind in ("time", "bytes"):
            found.record(value, dict(labels))
        else:
            found.add(value, dict(labels))

    def close(self) -> None:
        try:
            self.provider.shutdown()  # exports the last values
        except Exception as exc:
            log.warning("exporting the last metrics failed: %r", exc)


class Metrics:
    """Records jina's metrics for one runtime into every backend it was asked for."""

    def __init__(self, spec: TelemetrySpec, runtime_name: str, host: str = "127.0.0.1") -> None:
        self.runtime_name = runtime_name
        self._labels = {"runtime_name": runtime_name}
        self.prometheus = (
            _Prometheus(host, spec.port_monitoring or 0, runtime_name) if spec.monitoring else None
        )
        self._backends: list[Any] = [b for b in (self.prometheus,) if b is not None]
        if spec.metrics:
            self._backends.append(_Otlp(spec, runtime_name))

    @property
    def meter(self) -> Any:
        """An OpenTelemetry Meter exporting with jina's metrics (``metrics=True``), for the
        Executor's own instruments (``self.meter``); None without OTLP export."""
        otlp = next((b for b in self._backends if isinstance(b, _Otlp)), None)
        return None if otlp is None else otlp.provider.get_meter(self.runtime_name)

    @property
    def port(self) -> int | None:
        """Where ``/metrics`` is served (None: no Prometheus endpoint)."""
        return None if self.prometheus is None else self.prometheus.port

    def record(
        self, name: str, value: float, executor: str | None = None, endpoint: str | None = None
    ) -> None:
        meta = CATALOGUE[name]
        labels = self._labels
        if meta.per_endpoint:
            labels = {**labels, "executor": executor or "", "executor_endpoint": endpoint or ""}
        for backend in self._backends:
            backend.record(name, meta.kind, meta.documentation, value, labels)

    def observe_custom(self, name: str, documentation: str, seconds: float) -> None:
        """``self.monitor(...)`` and ``@monitor()``: a time series of the Executor's own."""
        full = name if name.startswith("jina_") else f"jina_{name}"
        for backend in self._backends:
            backend.record(full, "time", documentation, seconds, self._labels)

    def close(self) -> None:
        for backend in self._backends:
            backend.close()


def start_metrics(spec: TelemetrySpec | None, runtime_name: str, host: str = "127.0.0.1") -> Metrics | None:
    """The runtime's metrics, or None when neither metrics nor monitoring is on (no cost)."""
    if spec is None or not (spec.metrics or spec.monitoring):
        return None
    return Metrics(spec, runtime_name, host)
