"""What a runtime (gateway, worker, client) is asked to observe, as jina's options name it."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["EXPORTER_ALIASES", "TelemetrySpec", "exporter_endpoint"]

#: other spellings jina's documentation uses (its Flow YAML example says ``tracing_exporter_*``)
EXPORTER_ALIASES = {
    "tracing_exporter_host": "traces_exporter_host",
    "tracing_exporter_port": "traces_exporter_port",
}


class TelemetrySpec(BaseModel):
    """``tracing=True, traces_exporter_host=..., traces_exporter_port=...``, the metrics twins
    and ``monitoring=True, port_monitoring=...``, as jina names them.

    Without an exporter host, spans and metrics still go to the endpoint the standard
    OpenTelemetry environment variables name (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ...).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tracing: bool = False
    traces_exporter_host: str | None = None
    traces_exporter_port: int | None = None
    metrics: bool = False
    metrics_exporter_host: str | None = None
    metrics_exporter_port: int | None = None
    monitoring: bool = False  # Prometheus /metrics on port_monitoring
    port_monitoring: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        """``tracing_exporter_host/port`` mean ``traces_exporter_host/port``; both with different
        values is an error rather than a silent choice."""
        if not isinstance(data, dict) or not any(alias in data for alias in EXPORTER_ALIASES):
            return data
        data = dict(data)
        for alias, name in EXPORTER_ALIASES.items():
            value = data.pop(alias, None)
            if value is None:
                continue
            if data.get(name) is not None and data[name] != value:
                raise ValueError(
                    f"{alias}={value!r} and {name}={data[name]!r} set the same option to different "
                    f"values; pass only {name}"
                )
            data[name] = value
        return data

    @property
    def enabled(self) -> bool:
        return self.tracing

    def client_options(self) -> dict[str, object]:
        """What a Client of this runtime takes: the tracing options only."""
        return {
            "tracing": self.tracing,
            "traces_exporter_host": self.traces_exporter_host,
            "traces_exporter_port": self.traces_exporter_port,
        }

    @property
    def measuring(self) -> bool:
        """Whether any metric is recorded (Prometheus or OTLP)."""
        return self.metrics or self.monitoring


def exporter_endpoint(host: str | None, port: int | None) -> str | None:
    """jina's ``host='http://localhost', port=4317`` as an OTLP/gRPC endpoint (None: from env)."""
    if not host:
        return None
    host = host.rstrip("/")
    has_port = re.search(r":\d+$", host.split("://", 1)[-1]) is not None
    return host if port is None or has_port else f"{host}:{port}"
