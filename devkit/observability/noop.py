"""``self.tracer`` and ``self.meter`` when tracing and metrics are off: spans and instruments
that cost nothing and need no OpenTelemetry install."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["NOOP_METER", "NOOP_TRACER", "NoOpInstrument", "NoOpMeter", "NoOpSpan", "NoOpTracer"]


class NoOpSpan:
    """Accepts what a span accepts and records nothing."""

    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def set_attributes(self, attributes: Any) -> None:
        pass

    def add_event(self, name: str, attributes: Any = None, timestamp: Any = None) -> None:
        pass

    def record_exception(self, exception: BaseException, *args: Any, **kwargs: Any) -> None:
        pass

    def set_status(self, status: Any, description: str | None = None) -> None:
        pass

    def is_recording(self) -> bool:
        return False

    def end(self, end_time: Any = None) -> None:
        pass

    def __enter__(self) -> NoOpSpan:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


_SPAN = NoOpSpan()


class NoOpTracer:
    """The subset of ``opentelemetry.trace.Tracer`` Executors use."""

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> NoOpSpan:
        return _SPAN

    @contextlib.contextmanager
    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Iterator[NoOpSpan]:
        yield _SPAN


NOOP_TRACER = NoOpTracer()


class NoOpInstrument:
    """Accepts what an OpenTelemetry counter, up-down counter, histogram or gauge accepts."""

    def add(self, amount: float, attributes: Any = None, context: Any = None) -> None:
        pass

    def record(self, amount: float, attributes: Any = None, context: Any = None) -> None:
        pass

    def set(self, amount: float, attributes: Any = None, context: Any = None) -> None:
        pass


_INSTRUMENT = NoOpInstrument()


class NoOpMeter:
    """The instrument factories of ``opentelemetry.metrics.Meter``, all recording nothing, so
    Executor code can create its instruments whether or not metrics are on."""

    def create_counter(self, name: str, *args: Any, **kwargs: Any) -> NoOpInstrument:
        return _INSTRUMENT

    def create_up_down_counter(self, name: str, *args: Any, **kwargs: Any) -> NoOpInstrument:
        return _INSTRUMENT

    def create_histogram(self, name: str, *args: Any, **kwargs: Any) -> NoOpInstrument:
        return _INSTRUMENT

    def create_gauge(self, name: str, *args: Any, **kwargs: Any) -> NoOpInstrument:
        return _INSTRUMENT

    def create_observable_counter(self, name: str, *args: Any, **kwargs: Any) -> NoOpInstrument:
        return _INSTRUMENT

    def create_observable_up_down_counter(self, name: str, *args: Any, **kwargs: Any) -> NoOpInstrument:
        return _INSTRUMENT

    def create_observable_gauge(self, name: str, *args: Any, **kwargs: Any) -> NoOpInstrument:
        return _INSTRUMENT


NOOP_METER = NoOpMeter()
