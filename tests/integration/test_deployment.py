"""Deployments: replicas, shards and polling, lifecycle, and the errors users meet first."""

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from docarray import BaseDoc, DocList

from devkit import (
    Client,
    ConfigError,
    Deployment,
    EndpointSignatureError,
    Executor,
    ExecutorError,
    ExecutorLoadError,
    PortInUseError,
    RuntimeFailToStart,
    requests,
)


class TextDoc(BaseDoc):
    text: str = ""


class CountDoc(BaseDoc):
    count: int


class WhoAmI(Executor):
    @requests
    def who(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = f"shard-{self.runtime_args.shard_id}/rep-{self.runtime_args.replica_id}"

    @requests(on=["/search", "/index"])
    def results(self, **kwargs):
        return {"shard": self.runtime_args.shard_id}


class Boom(Executor):
    @requests(on="/boom")
    def boom(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        raise NotImplementedError("No time for it")

    @requests(on="/slow")
    def slow(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        time.sleep(0.2)
        for doc in docs:
            doc.text = "slow but fine"

    @requests
    def ok(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = "fine"


class Counter(Executor):
    @requests
    def count(self, docs: DocList[CountDoc], **kwargs) -> DocList[CountDoc]:
        for doc in docs:
            doc.count += 1


class SlowToLoad(Executor):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        time.sleep(1)


class FailsToLoad(Executor):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        raise ValueError("the model file is missing")


class BadSignature(Executor):
    @requests
    def foo(self, docs, query, **kwargs):
        pass


def texts(n=1):
    return DocList[TextDoc]([TextDoc(text=str(i)) for i in range(n)])


def test_replicas_share_the_load(runtime):
    with Deployment(uses=WhoAmI, replicas=2, runtime=runtime, quiet=True) as dep:
        result = dep.post("/", texts(8), request_size=1, return_type=DocList[TextDoc])
    assert set(result.text) == {"shard-0/rep-0", "shard-0/rep-1"}


def test_shards_polling_any_sends_each_request_to_one_shard():
    with Deployment(uses=WhoAmI, shards=2, polling="ANY", quiet=True) as dep:
        responses = dep.post("/search", texts(4), request_size=1, return_responses=True)
    per_request = [response.parameters["__results__"] for response in responses]
    assert all(len(results) == 1 for results in per_request)
    assert {key for results in per_request for key in results} == {"executor-0/rep-0", "executor-1/rep-0"}


def test_shards_polling_all_sends_every_request_to_every_shard():
    with Deployment(uses=WhoAmI, shards=2, polling="all", quiet=True) as dep:
        (response,) = dep.post("/search", texts(1), return_responses=True)
    assert response.parameters["__results__"] == {
        "executor-0/rep-0": {"shard": 0},
        "executor-1/rep-0": {"shard": 1},
    }


def test_polling_per_endpoint(runtime):
    polling = {"/index": "ANY", "/search": "ALL", "*": "ANY"}
    with Deployment(uses=WhoAmI, shards=2, polling=polling, runtime=runtime, quiet=True) as dep:
        searched = dep.post("/search", texts(2), request_size=1, return_responses=True)
        indexed = dep.post("/index", texts(4), request_size=1, return_responses=True)
    assert all(len(response.parameters["__results__"]) == 2 for response in searched)
    assert all(len(response.parameters["__results__"]) == 1 for response in indexed)
    assert {key for response in indexed for key in response.parameters["__results__"]} == {
        "executor-0/rep-0",
        "executor-1/rep-0",
    }


def test_shards_and_replicas_together():
    with Deployment(uses=WhoAmI, shards=2, replicas=2, polling="ALL", quiet=True) as dep:
        responses = dep.post("/search", texts(6), request_size=1, return_responses=True)
    assert all(len(response.parameters["__results__"]) == 2 for response in responses)


def test_start_and_close_without_with():
    dep = Deployment(uses=WhoAmI, quiet=True)
    dep.start()
    try:
        assert dep.post("/", texts(1), return_type=DocList[TextDoc]).text == ["shard-0/rep-0"]
    finally:
        dep.close()
    dep.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        dep.start()


def test_block_returns_when_the_stop_event_is_set():
    stop = threading.Event()
    with Deployment(uses=WhoAmI, quiet=True) as dep:
        client = Client(port=dep.port)

        def use_then_stop():
            try:
                client.post("/", texts(1))
            finally:
                client.close()
                stop.set()

        thread = threading.Thread(target=use_then_stop)
        thread.start()
        dep.block(stop_event=stop)
        thread.join()
    assert stop.is_set()


def test_deployment_listens_on_the_given_port(free_port):
    with Deployment(uses=WhoAmI, port=free_port, quiet=True) as dep:
        assert dep.port == free_port
        with Client(host=f"grpc://127.0.0.1:{free_port}") as client:
            assert client.post("/", texts(1), return_type=DocList[TextDoc]).text == ["shard-0/rep-0"]


def _taken_port():
    taken = socket.socket()
    taken.bind(("0.0.0.0", 0))
    taken.listen()
    return taken, taken.getsockname()[1]


def test_port_already_taken_raises_port_in_use_error(runtime):
    taken, port = _taken_port()
    with (
        taken,
        pytest.raises(PortInUseError, match=f"Executor 'executor/rep-0' cannot listen on 0.0.0.0:{port}"),
    ):
        Deployment(uses=WhoAmI, port=port, runtime=runtime, quiet=True).start()


def test_port_already_taken_by_the_gateway_raises_port_in_use_error(no_leaks):
    taken, port = _taken_port()
    with (
        taken,
        pytest.raises(PortInUseError, match=f"gateway 'executor/gateway' cannot listen on 0.0.0.0:{port}"),
    ):
        Deployment(uses=WhoAmI, port=port, replicas=2, quiet=True).start()


def test_timeout_ready_names_what_did_not_start(runtime):
    dep = Deployment(uses=SlowToLoad, timeout_ready=200, runtime=runtime, quiet=True)
    with pytest.raises(RuntimeFailToStart, match="executor/rep-0 did not become ready"):
        dep.start()


def test_executor_raising_in_init_names_the_cause(runtime):
    with pytest.raises(RuntimeFailToStart, match=r"executor/rep-0.*ValueError.*the model file is missing"):
        Deployment(uses=FailsToLoad, runtime=runtime, quiet=True).start()


@pytest.mark.parametrize("uses", ["NoSuchExecutor", "no_such_module.NoSuchExecutor"])
def test_uses_that_cannot_be_imported_raises_executor_load_error(runtime, uses):
    with pytest.raises(ExecutorLoadError, match="NoSuchExecutor"):
        Deployment(uses=uses, runtime=runtime, quiet=True).start()


def test_bad_endpoint_signature_raises_endpoint_signature_error(runtime):
    with pytest.raises(EndpointSignatureError, match=r"BadSignature\.foo.*'query'"):
        Deployment(uses=BadSignature, runtime=runtime, quiet=True).start()


def test_executor_yaml_errors_name_file_and_line(runtime, tmp_path):
    path = tmp_path / "exec.yml"
    path.write_text("jtype: WhoAmI\nwith: {}\nmetaz:\n  name: typo\n")
    with pytest.raises(ConfigError, match=r"'metaz' at .*exec\.yml:3"):
        Deployment(uses=str(path), runtime=runtime, quiet=True).start()


def test_documents_not_matching_the_schema_name_executor_and_endpoint(runtime):
    with Deployment(uses=Counter, runtime=runtime, quiet=True) as dep:
        with pytest.raises(ExecutorError, match=r"'executor'.*'/count'.*CountDoc") as info:
            dep.post("/count", texts(1))
        assert dep.post(
            "/count", DocList[CountDoc]([CountDoc(count=1)]), return_type=DocList[CountDoc]
        ).count == [2]
    assert info.value.executor == "executor"


def test_executor_error_names_executor_type_message_and_traceback(runtime):
    with Deployment(uses=Boom, runtime=runtime, quiet=True) as dep:
        with pytest.raises(ExecutorError) as info:
            dep.post("/boom", texts(1))
        # the Deployment keeps serving after the error
        assert dep.post("/", texts(1), return_type=DocList[TextDoc]).text == ["fine"]
    error = info.value
    assert error.executor == "executor"
    assert error.name == "NotImplementedError"
    assert "No time for it" in str(error)
    assert "Remote traceback" in str(error)
    assert any("raise NotImplementedError" in line for line in error.stacks)


def test_executor_error_leaves_concurrent_requests_unaffected():
    with Deployment(uses=Boom, replicas=2, quiet=True) as dep:

        def post(on):
            with Client(port=dep.port) as client:
                return client.post(on, texts(1), return_type=DocList[TextDoc])

        with ThreadPoolExecutor(4) as pool:
            slow = [pool.submit(post, "/slow") for _ in range(2)]
            boom = [pool.submit(post, "/boom") for _ in range(2)]
            assert [future.result().text for future in slow] == [["slow but fine"], ["slow but fine"]]
            for future in boom:
                with pytest.raises(ExecutorError, match="NotImplementedError"):
                    future.result()


class _OnlyFoo(Executor):
    @requests(on="/foo")
    def foo(self, docs: DocList[TextDoc], **kwargs) -> None:
        pass


def test_an_unserved_endpoint_names_what_is_served() -> None:
    with Deployment(uses=_OnlyFoo, quiet=True) as dep:
        with pytest.raises(ExecutorError, match=r"does not serve endpoint '/bar'; it serves /foo"):
            dep.post("/bar", TextDoc())
        assert len(dep.post("/foo", TextDoc())) == 1  # and it keeps serving


def test_executor_serve_blocks_until_stopped(free_port: int) -> None:
    stop = threading.Event()
    server = threading.Thread(
        target=_OnlyFoo.serve, kwargs={"port": free_port, "quiet": True, "stop_event": stop}, daemon=True
    )
    server.start()
    try:
        with Client(port=free_port) as client:
            deadline = time.monotonic() + 20
            while not client.is_flow_ready(timeout=0.5) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(client.post("/foo", TextDoc())) == 1
    finally:
        stop.set()
        server.join(20)
    assert not server.is_alive()
