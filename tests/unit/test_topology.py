"""The topology seam: a Flow or Deployment spec resolved into workers and gateway edges, no sockets."""

from __future__ import annotations

import pytest

from devkit import Deployment, Flow
from devkit.errors import ConfigError
from devkit.spec.topology import resolve_deployment, resolve_flow


def loopback(plan, shard, replica):
    return f"{plan.name}-{shard}-{replica}:8081"


def test_flow_resolves_to_one_worker_per_shard_replica_in_dependency_order():
    flow = (
        Flow(name="search")
        .add(name="encoder", uses="Encoder", replicas=2, env={"MODEL": "small"})
        .add(name="indexer", uses="Indexer", shards=2, polling="ALL")
    )
    topology = resolve_flow(flow.spec)
    assert [plan.name for plan in topology.executors] == ["encoder", "indexer"]
    assert [(w.name, w.shard_id, w.replica_id) for w in topology.workers] == [
        ("encoder", 0, 0),
        ("encoder", 0, 1),
        ("indexer", 0, 0),
        ("indexer", 1, 0),
    ]
    assert topology.by_name("encoder").workers[1].executor.env == {"MODEL": "small"}
    assert topology.open_ends == ["indexer"]


def test_gateway_spec_takes_its_edges_from_the_address_function():
    flow = Flow().add(name="a", replicas=2).add(name="b", shards=2, needs="gateway").needs_all(name="j")
    gateway = resolve_flow(flow.spec).gateway_spec(loopback)
    nodes = {node.name: node for node in gateway.nodes}
    assert nodes["a"].shards == (("a-0-0:8081", "a-0-1:8081"),)
    assert nodes["b"].shards == (("b-0-0:8081",), ("b-1-0:8081",))
    assert nodes["j"].needs == ("a", "b")
    assert gateway.name == "Flow/gateway"


def test_external_executor_has_no_workers_and_its_given_addresses():
    flow = Flow().add(name="remote", host="10.0.0.5:9000", external=True)
    topology = resolve_flow(flow.spec)
    (plan,) = topology.executors
    assert plan.workers == () and plan.external
    gateway = topology.gateway_spec(lambda p, s, r: p.external_addresses[r])
    assert gateway.nodes[0].shards == (("10.0.0.5:9000",),)


def test_invalid_topology_is_reported_by_the_resolver():
    flow = Flow().add(name="a", needs="missing")
    with pytest.raises(ConfigError, match="'missing', which is not in the Flow"):
        resolve_flow(flow.spec)


def test_lone_grpc_deployment_has_no_gateway_and_listens_itself():
    topology = resolve_deployment(Deployment(name="enc", port=12345).spec)
    assert topology.gateway is None
    (worker,) = topology.workers
    assert (worker.host, worker.port) == ("0.0.0.0", 12345)
    with pytest.raises(ValueError, match="no gateway"):
        topology.gateway_spec(loopback)


def test_replicated_deployment_gets_a_gateway_on_its_port():
    topology = resolve_deployment(Deployment(name="enc", replicas=2, port=12345, protocol="http").spec)
    gateway = topology.gateway_spec(loopback)
    assert [(p.protocol, p.port) for p in gateway.protocols] == [("http", 12345)]
    assert gateway.nodes[0].shards == (("enc-0-0:8081", "enc-0-1:8081"),)
    assert all(worker.port == 0 for worker in topology.workers)


def test_the_spec_layer_does_not_import_the_orchestrators():
    """YAML and the CLI produce specs; what runs them depends on spec/, never the reverse."""
    import ast
    import pathlib

    import devkit.spec

    offenders = []
    for path in pathlib.Path(devkit.spec.__path__[0]).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("devkit.orchestrate")]
    assert offenders == []
