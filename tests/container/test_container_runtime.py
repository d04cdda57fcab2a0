"""runtime='container': each Executor in its own Docker container, the gateway on the host.

Needs a Docker engine and devkit's base image (``devkit build``); run with ``tox -e container``.
"""

from __future__ import annotations

import logging
import socket
import time

import pytest
from container_executors import BrokenAtStart, Where, WhereDoc
from docarray import DocList

from devkit import Client, RuntimeFailToStart
from devkit.container.engine import docker_client, running_containers
from devkit.runtime.container import ContainerHandle

pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(120)]


def docs(*texts: str) -> DocList[WhereDoc]:
    return DocList[WhereDoc](WhereDoc(text=text) for text in texts)


@pytest.mark.devkit_runtimes("container")
def test_a_deployment_in_a_container_answers_from_the_container(deployment_factory):
    with deployment_factory(Where, name="where") as deployment:
        got = deployment.post("/", docs("a", "b"), return_type=DocList[WhereDoc])
    assert got.text == ["a", "b"]
    hosts = {host for doc in got for host in doc.hosts}
    assert len(hosts) == 1 and hosts != {socket.gethostname()}, "the Executor ran on the host"


@pytest.mark.devkit_runtimes("thread", "process", "container")
def test_a_two_executor_flow_answers_on_every_runtime(flow_factory, devkit_runtime):
    flow = flow_factory().add(uses=Where, name="first").add(uses=Where, name="second")
    with flow:
        got = flow.post("/", docs("x"), return_type=DocList[WhereDoc])
    assert got.text == ["x"]
    assert len(got[0].hosts) == 2
    if devkit_runtime == "container":
        assert len(set(got[0].hosts)) == 2, "each Executor runs in its own container"


@pytest.mark.devkit_runtimes("container")
def test_the_executor_output_is_forwarded_with_its_name(deployment_factory, caplog):
    caplog.set_level(logging.INFO, logger="devkit.container")
    with deployment_factory(Where, name="where"):
        pass
    assert any(
        record.getMessage().startswith("where/rep-0 | Where is serving on") for record in caplog.records
    ), caplog.text


@pytest.mark.devkit_runtimes("container")
def test_a_failing_executor_names_itself_and_the_cause_and_leaves_no_container(deployment_factory):
    deployment = deployment_factory(BrokenAtStart, name="broken")
    with pytest.raises(
        RuntimeFailToStart, match=r"(?s)broken/rep-0.*exited with code 1.*the model file is missing"
    ):
        deployment.start()
    assert running_containers() == {}


@pytest.mark.devkit_runtimes("container")
def test_stopping_drains_on_sigterm_and_removes_every_container(deployment_factory):
    deployment = deployment_factory(Where, name="where", replicas=2)
    with deployment:
        assert len(running_containers()) == 2
        handles = list(deployment._group.handles)
    containers = [handle for handle in handles if hasattr(handle, "exit_code")]
    assert [handle.exit_code for handle in containers] == [0, 0], "killed instead of drained on SIGTERM"
    assert running_containers() == {}


def _containers(deployment) -> dict[str, ContainerHandle]:
    return {h.name: h for h in deployment._group.handles if isinstance(h, ContainerHandle)}


@pytest.mark.devkit_runtimes("container")
def test_a_container_handle_reports_the_host_its_port_is_published_on(deployment_factory):
    with deployment_factory(Where, name="where", host="127.0.0.2", replicas=2) as deployment:
        handles = _containers(deployment)
        assert sorted(handles) == ["where/rep-0", "where/rep-1"]
        for handle in handles.values():
            assert handle.address.host == "127.0.0.2"
            assert handle.address.port == handle.all_ports[0]
        got = deployment.post("/", docs("a", "b"), request_size=1, return_type=DocList[WhereDoc])
        assert got.text == ["a", "b"]
        assert {address.host for address in deployment.addresses} == {"127.0.0.2"}


@pytest.mark.devkit_runtimes("container")
def test_a_killed_container_is_restarted_on_its_port_and_serves_again(deployment_factory, caplog):
    caplog.set_level(logging.INFO, logger="devkit.supervisor")
    engine = docker_client()
    networks = {network.id for network in engine.networks.list()}
    deployment = deployment_factory(Where, name="where", replicas=2)
    with deployment:
        victim = _containers(deployment)["where/rep-0"]
        address, killed = victim.address, victim.instance
        engine.containers.get(killed.split()[-1]).kill()  # what `docker kill` does: SIGKILL

        deadline = time.monotonic() + 90  # restarted and healthy
        while (restarted := _containers(deployment).get("where/rep-0")) in (None, victim) or not (
            restarted.all_ports  # set once it is ready
        ):
            assert time.monotonic() < deadline, "the killed container was not restarted"
            time.sleep(0.2)
        assert restarted.address == address, "restarted on another port"
        new_host = restarted.instance.split()[-1]
        assert new_host != killed.split()[-1]
        served: set[str] = set()
        while new_host not in served:  # back in the gateway's rotation
            assert time.monotonic() < deadline, "the restarted container gets no traffic"
            got = deployment.post("/", docs("x", "y", "z"), request_size=1, return_type=DocList[WhereDoc])
            assert sorted(got.text) == ["x", "y", "z"]
            served.update(host for doc in got for host in doc.hosts)
        assert len(running_containers()) == 2
    (death,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert f"Executor 'where' replica 0 (where/rep-0) ({killed}) was killed by SIGKILL" in death
    assert f"restarting it on port {address.port}" in death
    assert any(r.getMessage().endswith(f"restarted ({restarted.instance})") for r in caplog.records)
    assert running_containers() == {}, "a container outlived the Deployment"
    assert {network.id for network in engine.networks.list()} == networks, "a network outlived it"
    engine.close()


def test_an_executor_container_on_testcontainers_serves_a_client_and_a_flow(
    executor_container, client_factory, flow_factory, network
):
    running = executor_container(Where, name="where")
    client = client_factory(f"grpc://{running.address}")
    assert client.post("/", docs("direct"), return_type=DocList[WhereDoc]).text == ["direct"]
    assert "Where is serving on" in running.logs()
    flow = network.attach(
        flow_factory().add(name="where", host=running.host, port=running.port, external=True)
    )
    network.edge("gateway", "where").latency(0.05)
    with flow:
        got = flow.post("/", docs("through a slow hop"), return_type=DocList[WhereDoc])
    assert got.text == ["through a slow hop"] and len(got[0].hosts) == 1


@pytest.mark.timeout(900)
@pytest.mark.devkit_runtimes("container")
def test_an_executor_folder_is_built_once_and_served_from_its_image(tmp_path, deployment_factory, capsys):
    from devkit.cli import main

    folder = tmp_path / "shout"
    assert main(["new", "Shout", "--path", str(folder)]) == 0
    assert main(["build", str(folder)]) == 0
    tag = capsys.readouterr().out.strip().splitlines()[-1].split()[0]
    assert tag.startswith("devkit-executor-shout:")
    assert main(["build", str(folder)]) == 0, "a rebuild with unchanged inputs"
    assert capsys.readouterr().out.strip().splitlines()[-1].split()[0] == tag
    for uses in (f"docker://{tag}", str(folder)):
        with deployment_factory(uses, name="shout") as deployment:
            got = deployment.post("/", docs("hi"), return_type=DocList[WhereDoc])
        assert got.text == ["HI"]


@pytest.mark.devkit_runtimes("container")
def test_an_executor_added_with_a_port_is_published_on_that_port(flow_factory, free_port):
    flow = flow_factory().add(uses=Where, name="where", port=free_port)
    with flow:
        (handle,) = _containers(flow).values()
        assert handle.address.port == free_port
        with Client(host="127.0.0.1", port=free_port, protocol="grpc") as client:  # past the gateway
            got = client.post("/", docs("direct"), return_type=DocList[WhereDoc])
    assert got.text == ["direct"]
    assert len(got[0].hosts) == 1 and got[0].hosts != [socket.gethostname()], "not served from the container"
