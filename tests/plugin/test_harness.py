"""The test kit's factories: where their servers listen and how their clients dial."""

from __future__ import annotations

import pytest
from docarray import BaseDoc, DocList

from devkit import Executor, requests
from devkit.testing.leaks import listening


class TextDoc(BaseDoc):
    text: str = ""


class Upper(Executor):
    @requests
    def upper(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper()


def test_client_factory_clients_go_through_the_fake_network(network, flow_factory, client_factory):
    flow = network.attach(flow_factory().add(uses=Upper, name="upper"))
    front = network.edge("client", "gateway", layer="grpc")
    with flow:
        client = client_factory(flow)
        front.fail_first(1, "UNAVAILABLE")
        docs = client.post(
            "/", TextDoc(text="hi"), return_type=DocList[TextDoc], max_attempts=2, initial_backoff=0.01
        )
    assert docs.text == ["HI"]
    assert front.stats.faults == {"fail": 1}
    assert front.stats.requests == 2  # the failed attempt and the client's retry, both proxied


def test_client_factory_reaches_a_lone_executor_through_its_edge(network, deployment_factory, client_factory):
    deployment = network.attach(deployment_factory(Upper, name="upper"))
    front = network.edge("client", "upper", layer="grpc")
    with deployment:
        docs = client_factory(deployment).post("/", TextDoc(text="a"), return_type=DocList[TextDoc])
    assert docs.text == ["A"]
    assert front.stats.requests == 1


@pytest.mark.parametrize("replicas", [1, 2])
def test_servers_of_the_test_kit_listen_on_loopback_only(deployment_factory, flow_factory, replicas):
    # 127.0.0.2 is loopback too: a server bound to every interface (0.0.0.0) answers there
    with deployment_factory(Upper, replicas=replicas) as deployment, flow_factory().add(uses=Upper) as flow:
        ports = deployment.ports + flow.ports
        assert all(listening(port, "127.0.0.1") for port in ports)
        assert not [port for port in ports if listening(port, "127.0.0.2")]
