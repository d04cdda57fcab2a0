"""Reading metric values in a test: a Prometheus scrape over HTTP, and a real OTLP/gRPC
metrics receiver (opentelemetry-proto's ``MetricsService``) on a loopback port."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc

__all__ = ["MetricValues", "OtlpMetricsReceiver", "Scrape", "scrape"]

Labels = tuple[tuple[str, str], ...]


class Scrape:
    """One ``GET /metrics``: every sample by name and labels."""

    def __init__(self, text: str) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        self.text = text
        self.samples: list[tuple[str, dict[str, str], float]] = [
            (sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called ``name`` whose labels include ``labels`` (0: none)."""
        return sum(v for n, found, v in self.samples if n == name and labels.items() <= found.items())

    def names(self) -> set[str]:
        return {name for name, _, _ in self.samples}

    def duplicates(self) -> list[tuple[str, dict[str, str]]]:
        """Series that appear more than once (a registry bug a dashboard would double-count)."""
        seen: set[tuple[str, Labels]] = set()
        twice = []
        for name, labels, _ in self.samples:
            key = (name, tuple(sorted(labels.items())))
            if key in seen:
                twice.append((name, labels))
            seen.add(key)
        return twice


def scrape(port: int, host: str = "127.0.0.1") -> Scrape:
    """``GET http://host:port/metrics``, parsed."""
    import httpx

    response = httpx.get(f"http://{host}:{port}/metrics", timeout=10.0)
    response.raise_for_status()
    return Scrape(response.text)


class MetricValues:
    """The latest value of every OTLP metric point received: counters' totals, histograms'
    counts and sums (cumulative, as the SDK exports them)."""

    def __init__(self) -> None:
        self._points: dict[tuple[str, str, Labels], dict[str, float]] = {}
        self._changed = threading.Condition()
        self.port = 0

    def add(self, request: Any) -> None:
        with self._changed:
            for resource_metrics in request.resource_metrics:
                service = next(
                    (
                        a.value.string_value
                        for a in resource_metrics.resource.attributes
                        if a.key == "service.name"
                    ),
                    "",
                )
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        self._take(service, metric)
            self._changed.notify_all()

    def _take(self, service: str, metric: Any) -> None:
        kind = metric.WhichOneof("data")
        for point in getattr(metric, kind).data_points:
            labels = tuple(sorted((a.key, str(a.value.string_value)) for a in point.attributes))
            if kind == "histogram":
                values = {"count": float(point.count), "sum": float(point.sum)}
            else:
                values = {"value": float(point.as_double if point.HasField("as_double") else point.as_int)}
            self._points[(metric.name, service, labels)] = values

    def value(self, name: str, field: str = "value", service: str | None = None, **labels: str) -> float:
        """Summed over matching points; ``field`` is ``count`` or ``sum`` for histograms."""
        with self._changed:
            return sum(
                values.get(field, 0.0)
                for (found, svc, point_labels), values in self._points.items()
                if found == name
                and (service is None or svc == service)
                and labels.items() <= dict(point_labels).items()
            )

    def names(self) -> set[str]:
        with self._changed:
            return {name for name, _, _ in self._points}

    def wait_for(self, condition: Callable[[MetricValues], bool], timeout: float = 10.0) -> MetricValues:
        """Block until ``condition(self)`` holds (metrics arrive each export interval)."""
        deadline_ok = False
        with self._changed:
            deadline_ok = self._changed.wait_for(lambda: condition(self._snapshot()), timeout=timeout)
        if not deadline_ok:
            raise AssertionError(
                f"the metrics never satisfied the condition within {timeout:g} s; got {sorted(self.names())}"
            )
        return self

    def _snapshot(self) -> MetricValues:
        view = MetricValues()
        view._points = dict(self._points)
        return view

    @staticmethod
    def scrape(port: int, host: str = "127.0.0.1") -> Scrape:
        """A Prometheus ``/metrics`` endpoint, scraped over HTTP."""
        return scrape(port, host)


class OtlpMetricsReceiver:
    """An OTLP/gRPC metrics receiver on a loopback port, feeding a :class:`MetricValues`."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc

        self.values = MetricValues()
        collected = self.values

        class _Service(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:  # the proto's name
                collected.add(request)
                return metrics_service_pb2.ExportMetricsServiceResponse()

        # not devkit-*: the leak check must not count the fixture's own receiver (see spans.py)
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="otlp-metrics-receiver")
        )
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Service(), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.values.port = self.port

    def start(self) -> OtlpMetricsReceiver:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(None).wait()
