"""Tracing for Flows, Deployments and Clients (OpenTelemetry, exported over OTLP/gRPC).

Off by default and then free: no interceptor is installed and no span object is created.
The SDK is imported only when a runtime is asked to trace (the ``observability`` extra).
"""

from devkit.observability.noop import NOOP_METER, NOOP_TRACER, NoOpMeter, NoOpTracer
from devkit.observability.spec import TelemetrySpec
from devkit.observability.telemetry import Telemetry, start_telemetry

__all__ = [
    "NOOP_METER",
    "NOOP_TRACER",
    "NoOpMeter",
    "NoOpTracer",
    "Telemetry",
    "TelemetrySpec",
    "start_telemetry",
]
