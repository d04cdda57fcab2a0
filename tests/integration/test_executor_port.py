"""``Flow.add(port=...)`` fixes the port of a local Executor's own gRPC server (jina's HEALTH-2):
a Client reaches the Executor there directly, past the gateway, and a saved and reloaded Flow
binds the same port. With replicas or shards each server takes its own port."""

from __future__ import annotations

import socket

import pytest
from docarray import BaseDoc, DocList

from devkit import Client, ConfigError, Executor, Flow, requests
from devkit.testing.ports import free_port

pytestmark = pytest.mark.devkit_runtimes("thread", "process")


class TextDoc(BaseDoc):
    text: str = ""


class Stamp(Executor):
    """Appends its name and replica, so a test sees which server answered."""

    @requests
    def stamp(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += f"{self.runtime_args.name};"  # "name/rep-N"
        return docs


def direct(port: int) -> list[str]:
    """Post straight to the server on ``port``, not through the gateway."""
    with Client(host="127.0.0.1", port=port, protocol="grpc") as client:
        return client.post("/", TextDoc(), return_type=DocList[TextDoc]).text


def test_an_executor_added_with_a_port_answers_a_client_on_that_port(flow_factory):
    port = free_port()
    flow = flow_factory().add(uses=Stamp, name="first").add(uses=Stamp, name="fixed", port=port)
    with flow:
        assert flow.post("/", TextDoc(), return_type=DocList[TextDoc]).text == ["first/rep-0;fixed/rep-0;"]
        assert direct(port) == ["fixed/rep-0;"]
        assert flow.port != port


def test_a_saved_and_reloaded_flow_binds_the_same_executor_port(flow_factory, tmp_path):
    port = free_port()
    flow_factory().add(uses=Stamp, name="fixed", port=port).save_config(tmp_path / "flow.yml")
    loaded = Flow.load_config(tmp_path / "flow.yml")
    assert [w.port for w in loaded.topology.workers] == [port]
    with loaded:
        assert direct(port) == ["fixed/rep-0;"]


def test_each_replica_listens_on_its_port_from_the_list(flow_factory):
    ports = [free_port(), free_port()]
    with flow_factory().add(uses=Stamp, name="twice", replicas=2, port=ports) as flow:
        assert [direct(port) for port in ports] == [["twice/rep-0;"], ["twice/rep-1;"]]
        assert len(flow.post("/", TextDoc(), return_type=DocList[TextDoc])) == 1


def test_a_taken_port_is_a_config_error_naming_the_port_and_the_executor(flow_factory):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        flow = flow_factory().add(uses=Stamp, name="clash", port=port)
        with pytest.raises(ConfigError, match=rf"port {port} of Executor 'clash' .* is already in use"):
            flow.start()
        assert flow.port is None or flow.port != port
