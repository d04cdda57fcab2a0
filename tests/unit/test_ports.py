"""The test kit's ``free_port`` never hands out a port the OS could give to someone else."""

import itertools
import socket

from devkit.testing import ports
from devkit.testing.ports import free_port


def ephemeral_range() -> tuple[int, int]:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
        low, high = map(int, ranges.read().split())
    return low, high


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range():
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20
    low, _ = ephemeral_range()
    assert all(1024 < port < low for port in ports)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_taken_port_is_skipped(monkeypatch):
    owned = ports._slice()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", owned[0]))  # someone else's server on the next port in line
        taken.listen()
        monkeypatch.setattr(ports, "_counter", itertools.count(0))
        assert free_port() == owned[1]


def test_a_port_0_server_and_outgoing_connections_stay_out_of_the_kit_range():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()) as outgoing:
            low, high = ephemeral_range()
            assert low <= server.getsockname()[1] <= high
            assert low <= outgoing.getsockname()[1] <= high
