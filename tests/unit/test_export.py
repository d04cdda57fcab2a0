"""docker-compose and Kubernetes export (pages 3-5), rendered offline from the resolved topology."""

from __future__ import annotations

import json
import pathlib

import kubernetes_validate
import pytest
import yaml

from devkit import Deployment, Executor, Flow
from devkit.errors import ConfigError
from devkit.spec.models import GatewaySpec, WorkerSpec

K8S_VERSION = "1.30.0"


def read(path) -> str:
    return pathlib.Path(path).read_text()


def search_flow() -> Flow:
    """Page 3's Flow: an encoder with 2 replicas and an indexer with 2 shards behind HTTP."""
    return (
        Flow(port=8080, protocol="http", image_pull_secrets=["regcred"])
        .config_gateway(replicas=2)
        .add(name="encoder", uses="docker://encoder:1", replicas=2, env={"k1": "v1"})
        .add(
            name="indexer",
            uses="docker://indexer:1",
            shards=2,
            polling="ALL",
            volumes=["./workspace:/workspace"],
            env_from_secret={"SECRET_USERNAME": {"name": "mysecret", "key": "username"}},
        )
    )


def argv_spec(argv: list[str], model):
    assert argv[:4] == ["python", "-m", "devkit", argv[3]]
    return model.model_validate_json(argv[4])


def test_compose_file_has_a_service_per_replica_and_shard_and_no_version_key(tmp_path):
    path = search_flow().to_docker_compose_yaml(str(tmp_path / "docker-compose.yml"), image="devkit-rt:1")
    document = yaml.safe_load(read(path))
    assert "version" not in document
    services = document["services"]
    assert sorted(services) == [
        "encoder-rep-0",
        "encoder-rep-1",
        "gateway",
        "gateway-rep-1",
        "indexer-0",
        "indexer-1",
    ]
    encoder = services["encoder-rep-1"]
    assert encoder["image"] == "encoder:1" and encoder["init"] is True
    assert encoder["environment"] == {"k1": "v1"}  # env is the container's environment
    worker = argv_spec(encoder["entrypoint"], WorkerSpec)
    assert (worker.port, worker.host, worker.replica_id) == (8080, "0.0.0.0", 1)
    assert worker.executor.uses == "config.yml"  # the image's own Executor
    assert encoder["healthcheck"]["test"] == [
        "CMD",
        "python",
        "-m",
        "devkit",
        "ping",
        "executor",
        "127.0.0.1:8080",
    ]

    gateway = services["gateway"]
    assert gateway["ports"] == ["8080:8080"] and "ports" not in services["gateway-rep-1"]
    assert gateway["depends_on"]["indexer-1"] == {"condition": "service_healthy"}
    spec = argv_spec(gateway["entrypoint"], GatewaySpec)
    nodes = {node.name: node.shards for node in spec.nodes}
    assert nodes == {
        "encoder": (("encoder-rep-0:8080", "encoder-rep-1:8080"),),
        "indexer": (("indexer-0:8080",), ("indexer-1:8080",)),
    }
    assert gateway["healthcheck"]["test"][-2:] == ["gateway", "http://127.0.0.1:8080"]


def test_compose_mounts_nothing_from_the_host(tmp_path):
    path = search_flow().to_docker_compose_yaml(str(tmp_path / "c.yml"), image="devkit-rt:1")
    document = yaml.safe_load(read(path))
    mounts = [m for s in document["services"].values() for m in s.get("volumes", [])]
    assert mounts == ["indexer-0-vol-0:/workspace", "indexer-1-vol-0:/workspace"]
    assert set(document["volumes"]) == {"indexer-0-vol-0", "indexer-1-vol-0"}


def test_a_lone_deployment_publishes_its_worker(tmp_path):
    path = Deployment(name="enc", uses="docker://enc:2", port=12345, host="127.0.0.1").to_docker_compose_yaml(
        str(tmp_path / "c.yml")
    )
    (service,) = yaml.safe_load(read(path))["services"].values()
    assert service["ports"] == ["127.0.0.1:12345:8080"]


def load_k8s(paths):
    return {str(p).split("k8s/")[1]: list(yaml.safe_load_all(read(p))) for p in paths}


def test_kubernetes_manifests_are_valid_and_wired_through_services(tmp_path):
    files = load_k8s(search_flow().to_kubernetes_yaml(str(tmp_path / "k8s"), k8s_namespace="search"))
    assert sorted(files) == [
        "encoder/encoder.yml",
        "gateway/gateway.yml",
        "indexer/indexer-0.yml",
        "indexer/indexer-1.yml",
    ]
    for objects in files.values():
        for obj in objects:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)  # raises on any schema error
            assert obj["metadata"]["namespace"] == "search"

    encoder, encoder_service = files["encoder/encoder.yml"]
    assert (encoder["kind"], encoder["spec"]["replicas"]) == ("Deployment", 2)
    pod = encoder["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["env"] == [{"name": "k1", "value": "v1"}]
    assert container["readinessProbe"]["grpc"] == {"port": 8080}
    assert container["livenessProbe"]["grpc"] == {"port": 8080}
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert encoder_service["spec"]["ports"][0]["port"] == 8080

    indexer, _ = files["indexer/indexer-1.yml"]
    assert indexer["kind"] == "StatefulSet"  # it has a volume
    assert indexer["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "indexer-1-vol-0"
    env = indexer["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "SECRET_USERNAME",
        "valueFrom": {"secretKeyRef": {"name": "mysecret", "key": "username"}},
    } in env

    gateway, _ = files["gateway/gateway.yml"]
    assert gateway["spec"]["replicas"] == 2
    (container,) = gateway["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/", "port": 8080}
    spec = argv_spec(container["command"], GatewaySpec)
    assert {node.name: node.shards for node in spec.nodes} == {
        "encoder": (("encoder.search.svc:8080",),),  # one Service balances the replicas
        "indexer": (("indexer-0.search.svc:8080",), ("indexer-1.search.svc:8080",)),
    }


def test_an_invalid_manifest_is_caught_by_the_schema_check():
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "x"},
                "spec": {"replicas": "two"},
            },
            K8S_VERSION,
            strict=True,
        )


def test_deployment_export_is_flat_with_a_gateway_only_when_needed(tmp_path):
    alone = Deployment(name="encoder", uses="docker://enc:2").to_kubernetes_yaml(
        str(tmp_path / "k8s"), k8s_namespace="custom-namespace"
    )
    assert [p.split("k8s/")[1] for p in alone] == ["encoder.yml"]
    sharded = Deployment(name="encoder", uses="docker://enc:2", shards=2).to_kubernetes_yaml(
        str(tmp_path / "k8s2")
    )
    assert sorted(p.split("k8s2/")[1] for p in sharded) == ["encoder-0.yml", "encoder-1.yml", "gateway.yml"]


class LocalEncoder(Executor):
    pass


def test_an_executor_that_would_need_a_host_mount_is_refused_with_the_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"'enc'.*mount nothing from the host.*devkit build FOLDER"):
        Flow().add(name="enc", uses=LocalEncoder).to_docker_compose_yaml(str(tmp_path / "c.yml"))
    module = tmp_path / "executor.py"
    module.write_text("from devkit import Executor\nclass E(Executor):\n    pass\n")
    with pytest.raises(ConfigError, match=r"local file"):
        Flow().add(name="enc", uses="E", py_modules=[str(module)]).to_kubernetes_yaml(str(tmp_path / "k"))


def test_a_docker_executor_on_the_thread_runtime_says_to_use_a_container():
    flow = Flow(runtime="thread").add(name="enc", uses="docker://enc:1")
    with pytest.raises(ConfigError, match=r"'enc'.*runs only in a container.*runtime='container'"):
        flow.start()


def test_export_from_yaml_on_the_command_line(tmp_path, capsys):
    from devkit.cli import main

    flow = tmp_path / "flow.yml"
    flow.write_text(
        "jtype: Flow\nwith:\n  port: 8080\n  protocol: http\ngateway:\n  replicas: 3\n"
        "executors:\n  - name: encoder\n    uses: docker://enc:1\n    replicas: 2\n    env:\n      k1: v1\n"
    )
    assert main(["export", "docker-compose", str(flow), str(tmp_path / "docker-compose.yml")]) == 0
    services = yaml.safe_load(read(tmp_path / "docker-compose.yml"))["services"]
    assert sorted(services) == ["encoder-rep-0", "encoder-rep-1", "gateway", "gateway-rep-1", "gateway-rep-2"]
    assert services["encoder-rep-0"]["environment"] == {"k1": "v1"}
    assert main(["export", "kubernetes", str(flow), str(tmp_path / "k8s"), "--k8s-namespace", "ns"]) == 0
    gateway, service = yaml.safe_load_all(read(tmp_path / "k8s" / "gateway" / "gateway.yml"))
    assert gateway["spec"]["replicas"] == 3 and service["metadata"]["namespace"] == "ns"
    spec = json.loads(gateway["spec"]["template"]["spec"]["containers"][0]["command"][4])
    assert spec["nodes"][0]["shards"] == [["encoder.ns.svc:8080"]]


def test_export_options_survive_save_config(tmp_path):
    search_flow().save_config(tmp_path / "flow.yml")
    loaded = Flow.load_config(tmp_path / "flow.yml")
    assert loaded.spec.image_pull_secrets == ("regcred",)
    assert loaded.spec.gateway.replicas == 2
    indexer = loaded.spec.by_name("indexer").deployment
    assert indexer.volumes == ("./workspace:/workspace",)
    assert indexer.env_from_secret["SECRET_USERNAME"].key == "username"
    assert indexer.image_pull_secrets == ("regcred",)  # from the Flow, not repeated per Executor
