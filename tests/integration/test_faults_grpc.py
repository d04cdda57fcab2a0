"""gRPC-level faults on real topologies: how the gateway and the client react to them."""

from __future__ import annotations

from collections import Counter

import grpc
import pytest
from docarray import BaseDoc, DocList

from devkit import Executor, Flow, requests
from devkit.errors import ExecutorError
from devkit.testing.faults import FakeNetwork, LayerError, Schedule


class TextDoc(BaseDoc):
    text: str = ""


class Stamp(Executor):
    """Appends '!' to every text: a document answered twice would show '!!'."""

    @requests
    def stamp(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += "!"


def _docs(count: int) -> DocList[TextDoc]:
    return DocList[TextDoc]([TextDoc(text=f"doc-{i}") for i in range(count)])


def _outcomes(flow, count: int) -> list[bool]:
    """Post ``count`` one-document requests one after another; True where one succeeded."""
    results = []
    for i in range(count):
        try:
            flow.post("/", DocList[TextDoc]([TextDoc(text=f"r{i}")]))
            results.append(True)
        except ExecutorError:
            results.append(False)
    return results


@pytest.mark.devkit_runtimes("thread", "process")
def test_unavailable_replica_is_retried_on_the_other_and_nothing_is_lost(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder", replicas=2))
    broken = network.edge("gateway", "encoder", replica=0, layer="grpc")
    healthy = network.edge("gateway", "encoder", replica=1, layer="grpc")
    broken.fail(grpc.StatusCode.UNAVAILABLE)
    sent = _docs(10)
    with flow:
        # prefetch=1: one request in flight, so the round-robin retry lands on the other
        # replica (with many in flight, a retry can pick the failing replica again)
        got = flow.post("/", sent, request_size=2, prefetch=1, return_type=DocList[TextDoc])
    assert Counter(doc.id for doc in got) == Counter(doc.id for doc in sent)
    assert {doc.text for doc in got} == {f"doc-{i}!" for i in range(10)}
    assert broken.stats.faults == {"fail": broken.stats.requests} and broken.stats.requests >= 1
    assert broken.stats.codes == {"UNAVAILABLE": broken.stats.requests}
    assert broken.stats.docs_out == 0
    assert (healthy.stats.requests, healthy.stats.docs_in, healthy.stats.docs_out) == (5, 10, 10)
    assert healthy.stats.faults == {}


def test_deadline_exceeded_is_an_error_naming_the_executor(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    edge = network.edge("gateway", "encoder", layer="grpc")
    with flow:
        with edge.fail("DEADLINE_EXCEEDED"), pytest.raises(ExecutorError) as caught:
            flow.post("/", _docs(1))
        assert caught.value.executor == "encoder"
        assert "encoder" in str(caught.value)
        assert edge.stats.codes == {"DEADLINE_EXCEEDED": 1}
        assert len(flow.post("/", _docs(3))) == 3  # the fault left with its block


def test_a_status_other_than_unavailable_is_not_retried(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder", replicas=2))
    edges = network.edge("gateway", "encoder", layer="grpc")  # both replicas
    edges.fail(grpc.StatusCode.INTERNAL, "disk on fire", times=1)
    with flow:
        with pytest.raises(ExecutorError, match="INTERNAL: disk on fire"):
            flow.post("/", _docs(1))
        assert len(flow.post("/", _docs(2))) == 2
    assert edges.stats.faults == {"fail": 1}
    assert edges.stats.requests == 2


def test_fail_first_n_then_forward(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    edge = network.edge("gateway", "encoder", layer="grpc")
    with flow:
        edge.fail_first(2, "INTERNAL")
        assert _outcomes(flow, 4) == [False, False, True, True]
    assert edge.stats.faults == {"fail": 2}


@pytest.mark.devkit_runtimes("thread", "process")
def test_fail_every_kth_request(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    edge = network.edge("gateway", "encoder", layer="grpc")
    with flow:
        edge.fail_every(3, "INTERNAL")
        assert _outcomes(flow, 9) == [True, True, False] * 3
    assert (edge.stats.requests, edge.stats.faults, edge.stats.docs_out) == (9, {"fail": 3}, 6)


def _random_failures(seed: int) -> list[bool]:
    with FakeNetwork(seed=seed) as network:
        flow = network.attach(Flow(quiet=True).add(uses=Stamp, name="encoder"))
        network.edge("gateway", "encoder", layer="grpc").fail("INTERNAL", when=Schedule.random(0.5))
        with flow:
            return _outcomes(flow, 12)


def test_random_schedule_is_the_same_for_the_same_seed():
    first, again, other = _random_failures(7), _random_failures(7), _random_failures(8)
    assert first == again
    assert 0 < first.count(False) < 12  # the seed fails some requests, not all
    assert other != first  # seeds 7 and 8 draw differently (fixed seeds: this cannot flake)


def test_fail_where_documents_match_a_query(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    edge = network.edge("gateway", "encoder", layer="grpc")
    edge.fail_where({"text": {"$eq": "poison"}})
    with flow:
        assert len(flow.post("/", DocList[TextDoc]([TextDoc(text="fine")]))) == 1
        with pytest.raises(ExecutorError, match="INTERNAL"):
            flow.post("/", DocList[TextDoc]([TextDoc(text="fine"), TextDoc(text="poison")]))
        assert len(flow.post("/", _docs(3))) == 3
    assert (edge.stats.requests, edge.stats.faults) == (3, {"fail": 1})


def test_schedule_at_with_latency_on_a_grpc_edge(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    edge = network.edge("gateway", "encoder", layer="grpc")
    with flow:
        edge.latency(0.05, when=Schedule.at(2))
        edge.fail("UNAVAILABLE", when=Schedule.at(3), details="scheduled outage")
        outcomes = _outcomes(flow, 4)
    # the gateway's retry of request 3 is request 4 for the schedule: it goes through,
    # so the client never sees the scheduled failure
    assert outcomes == [True, True, True, True]
    assert edge.stats.faults == {"latency": 1, "fail": 1}
    assert edge.stats.requests == 5  # 4 requests + 1 retry


def test_client_edge_on_the_grpc_layer_is_retried_by_the_client(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    front = network.edge("client", "gateway", layer="grpc")
    with flow:
        front.fail_first(1, "UNAVAILABLE")
        got = flow.post("/", _docs(4), request_size=2, max_attempts=2, initial_backoff=0.01)
    assert len(got) == 4
    assert front.stats.faults == {"fail": 1}
    assert front.stats.docs_out == 4


def test_layers_are_chosen_before_start_and_faults_must_fit_them(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    tcp_edge = network.edge("gateway", "encoder")
    with pytest.raises(LayerError, match="layer 'grpc'"):
        tcp_edge.fail("UNAVAILABLE")
    with pytest.raises(LayerError, match="already declared with layer 'tcp'"):
        network.edge("gateway", "encoder", layer="grpc")
    with flow:
        with pytest.raises(LayerError, match="proxied"):
            network.edge("gateway", "encoder", shard=0, layer="grpc")
        assert network.edge("gateway", "encoder", replica=0).layer == "tcp"
    with pytest.raises(ValueError, match="unknown gRPC status code 'NOPE'"):
        network.edge("client", "gateway", layer="grpc").fail("NOPE")
