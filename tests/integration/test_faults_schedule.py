"""Schedules, fault handles and edge selection, without starting any server."""

from __future__ import annotations

import random

import pytest

from devkit.orchestrate.addressing import Edge
from devkit.testing.faults import FakeNetwork, Latency, LayerError, Schedule, Selector


def _fired(schedule: Schedule, count: int = 12) -> list[int]:
    return [n for n in range(1, count + 1) if schedule.fires(n, random.Random(n))]


def test_schedules_pick_request_numbers():
    assert _fired(Schedule.first(3)) == [1, 2, 3]
    assert _fired(Schedule.every(4)) == [4, 8, 12]
    assert _fired(Schedule.every(5, start=1)) == [1, 6, 11]
    assert _fired(Schedule.at(2, 7)) == [2, 7]
    assert _fired(Schedule.between(3, 5)) == [3, 4, 5]
    assert _fired(Schedule.first(2) | Schedule.at(9)) == [1, 2, 9]
    assert _fired(Schedule.every(2) & Schedule.between(1, 6)) == [2, 4, 6]
    assert _fired(Schedule.random(0.0)) == [] and _fired(Schedule.random(1.0)) == list(range(1, 13))
    assert repr(Schedule.every(3)) == "Schedule.every(3, start=3)"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Schedule.first(-1), "count >= 0"),
        (lambda: Schedule.every(0), "k >= 1"),
        (lambda: Schedule.at(0, 2), r"got \[0\]"),
        (lambda: Schedule.between(4, 2), "first <= last"),
        (lambda: Schedule.random(1.5), "probability <= 1"),
    ],
)
def test_schedules_reject_impossible_numbers(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_selectors_match_edges_by_name_shard_and_replica():
    edge = Edge("gateway", "encoder", shard=1, replica=0)
    assert Selector("gateway", "encoder").matches(edge)
    assert Selector("gateway", "encoder", shard=1, replica=0).matches(edge)
    assert not Selector("gateway", "encoder", replica=1).matches(edge)
    assert not Selector("client", "encoder").matches(edge)
    assert str(Selector("gateway", "encoder", replica=1)) == "gateway -> encoder (replica=1)"


def test_faults_are_scoped_by_with_and_removal_is_idempotent():
    network = FakeNetwork()
    edge = network.edge("client", "gateway")
    assert network.edge("client", "gateway") is edge
    with edge.latency(0.1) as fault:
        assert edge.faults == (fault,)
        assert isinstance(fault, Latency) and fault.active
    assert edge.faults == ()
    fault.remove()
    partition = edge.partition()
    edge.latency(0.2)
    edge.heal()
    assert not partition.active and len(edge.faults) == 1
    edge.clear()
    assert edge.faults == ()


def test_faults_check_the_layer_and_their_arguments():
    network = FakeNetwork()
    tcp_edge = network.edge("gateway", "encoder")
    grpc_edge = network.edge("gateway", "ranker", layer="grpc")
    with pytest.raises(LayerError, match="only a gRPC edge sees"):
        tcp_edge.latency(0.1, when=Schedule.first(1))
    with pytest.raises(LayerError, match="ResetPeer works on layer 'tcp'"):
        grpc_edge.reset_peer()
    with pytest.raises(ValueError, match="times must be >= 1"):
        grpc_edge.fail("INTERNAL", times=0)
    with pytest.raises(ValueError, match="bytes per second"):
        tcp_edge.bandwidth(0)
    with pytest.raises(ValueError, match="layer must be 'tcp', 'grpc' or 'http'"):
        network.edge("a", "b", layer="udp")  # type: ignore[arg-type]
