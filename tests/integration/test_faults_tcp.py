"""TCP-level toxics on real topologies: latency, blackholes, resets, partitions, limits."""

from __future__ import annotations

import socket
import time
from collections import Counter

import grpc
import pytest
from docarray import BaseDoc, DocList
from google.protobuf import empty_pb2

from devkit import Executor, Flow, requests
from devkit.errors import DevkitError, ExecutorError
from devkit.proto import jina_pb2
from devkit.testing.faults import FakeNetwork


class TextDoc(BaseDoc):
    text: str = ""


class Stamp(Executor):
    @requests
    def stamp(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += "!"


def _docs(count: int, size: int = 0) -> DocList[TextDoc]:
    return DocList[TextDoc]([TextDoc(text=f"doc-{i}" + "x" * size) for i in range(count)])


def test_latency_makes_the_client_wait_only_inside_its_block(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    front = network.edge("client", "gateway")
    with flow:
        flow.post("/", _docs(1))  # connect outside the measurement
        with front.latency(0.2, jitter=0.05):
            started = time.monotonic()
            assert len(flow.post("/", _docs(2))) == 2
            waited = time.monotonic() - started
        delayed = front.stats.faults["latency"]
        flow.post("/", _docs(2))
    assert waited >= 0.15  # latency minus the largest jitter
    assert delayed >= 1
    assert front.stats.faults["latency"] == delayed  # nothing delayed after the block


def test_latency_on_one_branch_delays_that_branch_and_the_join(network, flow_factory):
    flow = network.attach(
        flow_factory()
        .add(uses=Stamp, name="slow", needs="gateway")
        .add(uses=Stamp, name="fast", needs="gateway")
        .needs_all(uses=Stamp, name="join")
    )
    network.edge("gateway", "slow").latency(0.2)
    with flow:
        responses = flow.post("/", _docs(1), return_responses=True)
    routes = {route.executor: route for route in responses[0].routes if route.executor}
    took = {
        name: (route.end_time.ToNanoseconds() - route.start_time.ToNanoseconds()) / 1e9
        for name, route in routes.items()
    }
    # The injected latency is a lower bound whatever the machine's load: a comparison with
    # the fast branch would be a race.
    assert took["slow"] >= 0.2 - 1e-3
    ends = {name: route.end_time.ToNanoseconds() for name, route in routes.items()}
    assert max(ends["fast"], ends["slow"]) <= ends["join"]


def test_blackhole_and_timeout_send_give_an_error_naming_the_executor(network, flow_factory):
    flow = network.attach(flow_factory(timeout_send=500).add(uses=Stamp, name="slowpoke"))
    edge = network.edge("gateway", "slowpoke")
    with flow:
        with edge.blackhole(), pytest.raises(ExecutorError) as caught:
            flow.post("/", _docs(1))
        assert caught.value.executor == "slowpoke"
        assert "timeout_send=0.5" in str(caught.value)
        assert edge.stats.faults["timeout"] >= 1


@pytest.mark.devkit_runtimes("thread", "process")
def test_connection_reset_is_retried_by_the_gateway(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    edge = network.edge("gateway", "encoder")
    with flow:
        edge.reset_peer(times=1)
        got = flow.post("/", _docs(4), request_size=4, return_type=DocList[TextDoc])
    assert sorted(doc.text for doc in got) == sorted(f"doc-{i}!" for i in range(4))
    assert edge.stats.faults == {"reset_peer": 1}
    assert edge.stats.connections >= 2  # the gateway dialled again after the reset


@pytest.mark.devkit_runtimes("thread", "process")
def test_partition_fails_requests_and_heal_lets_them_through(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    edge = network.edge("gateway", "encoder")
    with flow:
        assert len(flow.post("/", _docs(1))) == 1
        edge.partition()
        with pytest.raises(ExecutorError) as caught:
            flow.post("/", _docs(1))
        assert caught.value.executor == "encoder"
        edge.heal()
        got = flow.post("/", _docs(3))  # the gateway dials again at once, not after gRPC's backoff
    assert len(got) == 3
    assert edge.stats.faults["partition"] >= 1


def test_limit_data_cuts_the_answer_and_the_client_reports_it(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    front = network.edge("client", "gateway")
    with flow:
        flow.post("/", _docs(1))
        with front.limit_data(front.stats.bytes_down + 200), pytest.raises(DevkitError):
            flow.post("/", _docs(5, size=1000))
        assert front.stats.faults["limit_data"] >= 1


def test_bandwidth_limits_throughput(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    edge = network.edge("gateway", "encoder")
    with flow:
        flow.post("/", _docs(1))
        before = edge.stats.bytes_down
        with edge.bandwidth(100_000):
            started = time.monotonic()
            flow.post("/", _docs(20, size=1000))
            waited = time.monotonic() - started
    assert waited >= (edge.stats.bytes_down - before) / 100_000 * 0.9
    assert edge.stats.faults["bandwidth"] >= 1


def test_slow_close_and_timeout_close_are_counted(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder"))
    edge = network.edge("gateway", "encoder")
    edge.slow_close(0.05)
    with flow:
        flow.post("/", _docs(1))
    assert edge.stats.faults.get("slow_close", 0) >= 1


def test_nothing_lost_or_duplicated_under_jittery_latency(network, flow_factory):
    flow = network.attach(flow_factory().add(uses=Stamp, name="encoder", replicas=2))
    network.edge("gateway", "encoder").latency(0.01, jitter=0.01, direction="both")
    sent = _docs(60)
    with flow:
        got = flow.post("/", sent, request_size=3, return_type=DocList[TextDoc])
    assert Counter(doc.id for doc in got) == Counter(doc.id for doc in sent)
    assert all(doc.text.endswith("!") and not doc.text.endswith("!!") for doc in got)


def test_the_network_stops_its_thread_and_proxies(no_leaks):
    with FakeNetwork(seed=3) as network:
        flow = network.attach(Flow(quiet=True).add(uses=Stamp, name="encoder"))
        with flow:
            assert len(flow.post("/", _docs(1))) == 1
        addresses = [address for _, _, address in network.edges]
    assert len(addresses) == 2
    for address in addresses:
        host, port = address.rsplit(":", 1)
        with socket.socket() as sock:
            assert sock.connect_ex((host, int(port))) != 0, f"{address} still listening"


def test_dialling_through_a_network_that_is_not_started_says_so():
    network = FakeNetwork()
    flow = network.attach(Flow(quiet=True).add(uses=Stamp, name="encoder"))
    with pytest.raises(RuntimeError, match="start it first"), flow:
        pass


def test_a_dry_run_names_a_blackholed_executor_within_the_callers_deadline(network, flow_factory):
    """A blackholed replica never answers its health check: the dry run must not outwait the
    caller's deadline (ping's is 3 s) but answer in time, naming the Executor."""
    flow = network.attach(flow_factory().add(uses=Stamp, name="slowpoke"))
    edge = network.edge("gateway", "slowpoke")
    with flow, edge.blackhole(), grpc.insecure_channel(f"127.0.0.1:{flow.port}") as channel:
        dry_run = channel.unary_unary(
            "/jina.JinaGatewayDryRunRPC/dry_run",
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=jina_pb2.StatusProto.FromString,
        )
        status = dry_run(empty_pb2.Empty(), timeout=2.0)
    assert status.code == jina_pb2.StatusProto.ERROR
    assert "slowpoke at " in status.description
    assert "DEADLINE_EXCEEDED" in status.description
