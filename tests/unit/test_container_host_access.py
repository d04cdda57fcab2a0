"""The relays that let a container worker reach a collector on the host's loopback.

Here the "bridge" is 127.0.0.1 too (``gateway=``), so every socket stays on loopback; the
container test (tests/container/test_container_tracing.py) runs them on the real bridge.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from devkit.container.host_access import HOST_ALIAS, HostAccess, is_loopback, observed_from_container
from devkit.observability.spec import TelemetrySpec


@pytest.fixture
def echo() -> Iterator[int]:
    """A loopback server that answers each connection's bytes upper-cased, until it closes."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(1024):
                    conn.sendall(data.upper())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.shutdown(socket.SHUT_RDWR)
    server.close()
    thread.join(5)


def _relay_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("devkit-relay-")]


def test_a_relay_carries_bytes_both_ways_and_stops_with_its_worker(echo: int) -> None:
    access = HostAccess("where/rep-0", client=None, gateway="127.0.0.1")
    port = access.port_for("localhost", echo)
    assert access.port_for("127.0.0.1", echo) == port, "one relay per loopback endpoint"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"span")
        assert conn.recv(1024) == b"SPAN"
        assert access.extra_hosts == {HOST_ALIAS: "127.0.0.1"}
        access.close()
        assert conn.recv(1024) == b"", "closing the relays closes their connections"
    assert _relay_threads() == []


def test_a_worker_that_exports_nothing_gets_no_variable_and_no_relay() -> None:
    access = HostAccess("w", client=None, gateway="127.0.0.1")
    spec = TelemetrySpec(monitoring=True, traces_exporter_host="http://127.0.0.1", traces_exporter_port=1)
    assert observed_from_container(
        spec, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1"}, access
    ) == (
        spec,
        {},
    )
    assert access.extra_hosts == {}


def test_loopback_exporters_are_relayed_and_the_others_kept(echo: int) -> None:
    access = HostAccess("w", client=None, gateway="127.0.0.1")
    spec = TelemetrySpec(
        tracing=True,
        traces_exporter_host="http://localhost",
        traces_exporter_port=echo,
        metrics=True,
        metrics_exporter_host="http://collector.example",
        metrics_exporter_port=4317,
    )
    environ = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{echo}",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://collector.example:4317",
        "OTEL_BSP_SCHEDULE_DELAY": "10",
        "PATH": "/usr/bin",
    }
    try:
        inside, variables = observed_from_container(spec, environ, access)
        relay = access.port_for("127.0.0.1", echo)
        assert (inside.traces_exporter_host, inside.traces_exporter_port) == (f"http://{HOST_ALIAS}", relay)
        assert (inside.metrics_exporter_host, inside.metrics_exporter_port) == (
            "http://collector.example",
            4317,
        )
        assert variables == {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://{HOST_ALIAS}:{relay}",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://collector.example:4317",
            "OTEL_BSP_SCHEDULE_DELAY": "10",
        }
        with socket.create_connection(("127.0.0.1", relay), timeout=5) as conn:
            conn.sendall(b"otlp")
            assert conn.recv(1024) == b"OTLP"
    finally:
        access.close()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.2", True), ("::1", True), ("172.17.0.1", False), ("collector", False)],
)
def test_what_counts_as_the_hosts_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
