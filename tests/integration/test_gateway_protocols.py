"""One gateway core, one front-end per protocol: multi-protocol Flows and Deployments (GW-12, GW-25)."""

import httpx
import pytest
from docarray import BaseDoc, DocList

from devkit import Client, ConfigError, Deployment, Flow, requests
from devkit.executor import Executor
from devkit.spec.models import GatewaySpec, ProtocolPort
from devkit.testing.leaks import open_ports


class TextDoc(BaseDoc):
    text: str = ""


class Foo(Executor):
    @requests(on="/foo")
    def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = "foo was called"
        return docs


def _http_post(port: int, endpoint: str, texts: list[str]) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{port}/post",
        json={"data": [{"text": text} for text in texts], "execEndpoint": endpoint},
        timeout=10,
    )


def test_flow_serves_grpc_and_http_on_one_port_each():
    flow = Flow(protocol=["grpc", "http"], quiet=True).add(uses=Foo)
    with flow:
        grpc_port, http_port = flow.ports_by_protocol["grpc"], flow.ports_by_protocol["http"]
        assert flow.port == grpc_port  # the first protocol's port, as in jina
        with Client(host=f"grpc://127.0.0.1:{grpc_port}") as client:
            assert client.post("/foo", TextDoc(), return_type=DocList[TextDoc]).text == ["foo was called"]
        response = _http_post(http_port, "/foo", ["x"])
        assert response.status_code == 200
        assert [doc["text"] for doc in response.json()["data"]] == ["foo was called"]
    assert open_ports([grpc_port, http_port]) == []


def test_flow_takes_one_port_per_protocol(free_port):
    http_port = free_port
    with Flow(protocol=["http", "grpc"], port=[http_port, 0], quiet=True).add(uses=Foo) as flow:
        assert flow.port == http_port
        assert list(flow.ports_by_protocol) == ["http", "grpc"]
        assert _http_post(http_port, "/foo", ["x"]).json()["data"][0]["text"] == "foo was called"


def test_config_gateway_sets_protocols_case_insensitively():
    flow = Flow(quiet=True).config_gateway(protocol=["GRPC", "Http"]).add(uses=Foo)
    assert [p.protocol for p in flow.spec.gateway.protocols] == ["grpc", "http"]
    with flow:
        assert set(flow.ports_by_protocol) == {"grpc", "http"}


@pytest.mark.parametrize(
    ("protocol", "port", "message"),
    [
        (["grpc", "http"], [1234], "2 protocols .* need as many ports"),
        ("graphql", None, "protocol must be one or a list of grpc, http, websocket"),
        (["http", "http"], None, "lists a protocol twice"),
    ],
)
def test_bad_protocols_and_ports_are_refused_when_the_flow_is_built(protocol, port, message):
    with pytest.raises(ConfigError, match=message):
        Flow(protocol=protocol, port=port)


def test_gateway_spec_has_one_port_per_protocol():
    spec = GatewaySpec(protocols=ProtocolPort.parse(["grpc", "http"], [1, 2]))
    assert [(p.protocol, p.port) for p in spec.protocols] == [("grpc", 1), ("http", 2)]
    assert spec.protocol == "grpc" and spec.port == 1


def test_flow_yaml_lists_protocols_and_ports(tmp_path, free_port):
    path = tmp_path / "flow.yml"
    path.write_text(
        f"""
jtype: Flow
gateway:
  protocol: [http, grpc]
  port: [{free_port}, 0]
executors:
  - name: foo
    uses: {Foo.__module__}.Foo
"""
    )
    flow = Flow.load_config(str(path))
    with flow:
        assert flow.ports_by_protocol["http"] == free_port
        assert _http_post(free_port, "/foo", ["x"]).status_code == 200
    saved = tmp_path / "saved.yml"
    flow.save_config(saved)
    assert Flow.load_config(str(saved)).spec.gateway.protocols == flow.spec.gateway.protocols


def test_http_deployment_with_one_worker_gets_a_gateway():
    with Deployment(uses=Foo, protocol="http", quiet=True) as dep:
        assert dep.ports_by_protocol == {"http": dep.port}
        assert _http_post(dep.port, "/foo", ["x"]).json()["data"][0]["text"] == "foo was called"
        assert len(dep.ports) == 2  # the worker's and the gateway's


def test_grpc_deployment_with_one_worker_stays_gateway_less():
    with Deployment(uses=Foo, quiet=True) as dep:
        assert dep.ports == [dep.port]
        assert dep.ports_by_protocol == {"grpc": dep.port}


def test_deployment_serves_several_protocols():
    with Deployment(uses=Foo, protocol=["grpc", "http"], quiet=True) as dep:
        with Client(host=f"grpc://127.0.0.1:{dep.ports_by_protocol['grpc']}") as client:
            assert client.post("/foo", TextDoc(), return_type=DocList[TextDoc]).text == ["foo was called"]
        assert _http_post(dep.ports_by_protocol["http"], "/foo", ["x"]).status_code == 200


def test_ready_banner_lists_each_protocol_with_docs_links(capsys):
    with Flow(protocol=["grpc", "http"]).add(uses=Foo) as flow:
        ports = flow.ports_by_protocol
    banner = capsys.readouterr().err
    assert f"grpc://127.0.0.1:{ports['grpc']}" in banner
    assert f"http://127.0.0.1:{ports['http']}/docs" in banner
    assert f"http://127.0.0.1:{ports['http']}/redoc" in banner


@pytest.mark.process
def test_process_runtime_reports_every_port():
    with Flow(protocol=["grpc", "http"], runtime="process", quiet=True).add(uses=Foo) as flow:
        assert _http_post(flow.ports_by_protocol["http"], "/foo", ["x"]).status_code == 200
        assert set(flow.ports_by_protocol.values()) <= set(flow.ports)


def test_deployment_yaml_keeps_its_protocols(tmp_path):
    deployment = Deployment(uses=Foo, protocol=["grpc", "http"], port=[0, 0], quiet=True)
    path = tmp_path / "deployment.yml"
    deployment.save_config(path)
    assert Deployment.load_config(str(path)).spec.protocols == deployment.spec.protocols


def test_flow_yaml_with_block_takes_http_options_as_jinas_docs_write_them(tmp_path):
    path = tmp_path / "flow.yml"
    path.write_text(
        f"""
jtype: Flow
with:
  protocol: http
  cors: true
  expose_endpoints:
    /foo:
      summary: my endpoint
      methods: ["PUT"]
      tags:
        - fine-tuning
executors:
  - uses: {Foo.__module__}.Foo
"""
    )
    flow = Flow.load_config(str(path))
    assert flow.spec.gateway.http.cors is True
    with flow:
        operation = httpx.get(f"http://127.0.0.1:{flow.port}/openapi.json").json()["paths"]["/foo"]["put"]
        assert operation["summary"] == "my endpoint" and operation["tags"] == ["fine-tuning"]
