"""``Flow.add(port=...)`` as one port per server of a local Executor, checked before it starts."""

from __future__ import annotations

import pytest

from devkit import ConfigError, Flow
from devkit.testing.ports import free_port


def ports_of(flow: Flow, name: str) -> list[tuple[int, int, int]]:
    """(shard, replica, port) of each server of Executor ``name``, in start order."""
    plan = flow.topology.by_name(name)
    return [(w.shard_id, w.replica_id, w.port) for w in plan.workers]


def test_one_port_with_replicas_and_shards_gives_the_servers_consecutive_ports():
    flow = Flow().add(name="scaled", replicas=2, shards=2, port=20100)
    assert ports_of(flow, "scaled") == [(0, 0, 20100), (0, 1, 20101), (1, 0, 20102), (1, 1, 20103)]


def test_a_list_gives_each_replica_of_each_shard_its_port_shard_major():
    flow = Flow().add(name="listed", replicas=2, shards=2, port=[20200, "20210", 20220, 20230])
    assert ports_of(flow, "listed") == [(0, 0, 20200), (0, 1, 20210), (1, 0, 20220), (1, 1, 20230)]


def test_no_port_leaves_the_servers_free_ports_chosen_at_start():
    assert ports_of(Flow().add(name="free", replicas=2), "free") == [(0, 0, 0), (0, 1, 0)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"replicas": 2, "shards": 2, "port": [20300, 20301]},
            r"2 ports for 2 replicas x 2 shards = 4 servers",
        ),
        ({"replicas": 2, "port": [20400, 20400]}, r"gives port 20400 to two servers"),
        ({"port": 70000}, r"70000, which is not a port"),
        ({"port": "http"}, r"port='http' is not a port number"),
    ],
    ids=["count", "twice", "range", "not-a-number"],
)
def test_ports_that_do_not_fit_the_servers_are_a_config_error_naming_the_executor(kwargs, message):
    with pytest.raises(ConfigError, match=rf"Flow.add\(name='odd'\): .*{message}"):
        Flow().add(name="odd", **kwargs)


def test_a_port_given_to_the_gateway_and_an_executor_fails_before_anything_starts():
    gateway, shared = free_port(), free_port()
    flow = Flow(port=gateway).add(name="first", port=shared).add(name="second", port=gateway)
    with pytest.raises(
        ConfigError, match=rf"port {gateway} is given to Executor 'second' .* and to the gateway"
    ):
        flow.start()
    flow = Flow().add(name="first", port=shared).add(name="second", port=shared)
    with pytest.raises(
        ConfigError, match=rf"port {shared} is given to Executor 'second' .* and to Executor 'first'"
    ):
        flow.start()


def test_an_external_executor_keeps_port_as_its_address():
    flow = Flow().add(name="remote", host="127.0.0.1", port=20700, external=True)
    assert flow.topology.by_name("remote").external_addresses == ("127.0.0.1:20700",)
    assert flow.spec.by_name("remote").deployment.worker_ports == ()
