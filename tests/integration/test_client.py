"""The Client against a live Deployment: inputs, batching, callbacks, ordering, errors, retries."""

import asyncio
import contextlib
import random
import socket
import threading
import time

import grpc
import pytest
from docarray import BaseDoc, DocList
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devkit import Client, Deployment, Executor, ExecutorError, ServerUnavailableError, requests
from devkit.errors import DevkitError


class TextDoc(BaseDoc):
    text: str = ""


class Echo(Executor):
    @requests
    def echo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = f"echo {doc.text}"

    @requests(on="/size")
    def size(self, docs: DocList[TextDoc], **kwargs):
        return {"size": len(docs)}

    @requests(on="/fail-odd")
    def fail_odd(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        if int(docs[0].text) % 2:
            raise ValueError(f"odd document {docs[0].text}")

    @requests(on="/slow")
    def slow(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        time.sleep(1.0)


class InFlight(Executor):
    """Records how many requests it handles at the same time. With ``parameters={'together': n}``
    a request waits until n were in at once, so an overlap is certain, not a matter of timing."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.current = 0
        self.most = 0
        self.changed: asyncio.Condition | None = None  # made on the serving loop

    @requests
    async def work(self, docs: DocList[TextDoc], parameters: dict, **kwargs):
        together = int(parameters.get("together", 1))
        self.changed = self.changed or asyncio.Condition()
        async with self.changed:
            self.current += 1
            self.most = max(self.most, self.current)
            self.changed.notify_all()
            await asyncio.wait_for(self.changed.wait_for(lambda: self.most >= together), 30)
        await asyncio.sleep(0)  # let any other request that is ready come in
        self.current -= 1
        return {"most": self.most}


class RandomSleepExecutor(Executor):
    @requests
    def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        time.sleep(random.uniform(0, 0.03))


def texts(n, start=0):
    return DocList[TextDoc]([TextDoc(text=str(i)) for i in range(start, start + n)])


@pytest.fixture(scope="module")
def port():
    with Deployment(uses=Echo, quiet=True) as dep:
        yield dep.port


@pytest.fixture
def client(port):
    with Client(host="127.0.0.1", port=port) as client:
        yield client


@pytest.mark.parametrize("form", ["scheme", "host:port", "host and port"])
def test_host_forms(port, form):
    client = {
        "scheme": lambda: Client(host=f"grpc://127.0.0.1:{port}"),
        "host:port": lambda: Client(host=f"127.0.0.1:{port}"),
        "host and port": lambda: Client(host="127.0.0.1", port=port, protocol="grpc"),
    }[form]()
    with client:
        assert client.post("/", TextDoc(text="x"), return_type=DocList[TextDoc]).text == ["echo x"]


def test_port_given_twice_is_an_error(port):
    with pytest.raises(ValueError, match="port is given twice"):
        Client(host=f"grpc://127.0.0.1:{port}", port=port)


def _generator():
    for i in range(3):
        yield TextDoc(text=str(i))


@pytest.mark.parametrize(
    "inputs, expected",
    [
        (TextDoc(text="0"), ["echo 0"]),
        (texts(3), ["echo 0", "echo 1", "echo 2"]),
        (list(texts(3)), ["echo 0", "echo 1", "echo 2"]),
        (_generator, ["echo 0", "echo 1", "echo 2"]),
    ],
    ids=["doc", "DocList", "list", "generator-function"],
)
def test_input_forms(client, inputs, expected):
    assert (
        client.post("/", inputs, request_size=2, return_type=DocList[TextDoc], results_in_order=True).text
        == expected
    )


def test_generator_input(client):
    result = client.post(
        "/", _generator(), request_size=1, return_type=DocList[TextDoc], results_in_order=True
    )
    assert result.text == ["echo 0", "echo 1", "echo 2"]


def test_no_inputs_sends_one_empty_request(client):
    responses = client.post("/size", return_responses=True)
    assert [response.parameters["__results__"]["executor/rep-0"] for response in responses] == [{"size": 0}]


def test_request_size_splits_inputs_into_requests(client):
    responses = client.post("/size", texts(100), request_size=10, return_responses=True)
    sizes = [response.parameters["__results__"]["executor/rep-0"]["size"] for response in responses]
    assert sizes == [10] * 10


def test_callbacks(client):
    done, failed, always = [], [], []
    result = client.post(
        "/fail-odd",
        texts(4),
        request_size=1,
        on_done=lambda response: done.append(response.docs[0].text),
        on_error=lambda response: failed.append(response.status.exception.name),
        on_always=lambda response: always.append(response.header.request_id),
    )
    assert result is None
    assert sorted(done) == ["0", "2"]
    assert failed == ["ValueError", "ValueError"]
    assert len(set(always)) == 4


def test_error_without_callbacks_raises(client):
    with pytest.raises(ExecutorError, match="odd document 1"):
        client.post("/fail-odd", texts(4), request_size=1)


def test_continue_on_error_returns_the_successful_responses(client):
    result = client.post(
        "/fail-odd", texts(4), request_size=1, continue_on_error=True, return_type=DocList[TextDoc]
    )
    assert sorted(result.text) == ["0", "2"]


def test_return_responses(client):
    responses = client.post("/", texts(4), request_size=2, return_responses=True, results_in_order=True)
    assert len(responses) == 2
    assert [doc.text for response in responses for doc in response.docs] == [
        "echo 0",
        "echo 1",
        "echo 2",
        "echo 3",
    ]
    assert all(not response.is_error() for response in responses)
    assert len(responses[0].header.request_id) == 32
    assert responses[0].header.exec_endpoint == "/"
    # without return_type the documents are schemaless; to_dict still has every field
    as_dict = responses[0].to_dict()
    assert [doc["text"] for doc in as_dict["data"]] == ["echo 0", "echo 1"]
    assert as_dict["header"]["exec_endpoint"] == "/"


def test_routes_through_a_gateway_list_gateway_then_executor():
    with Deployment(uses=Echo, replicas=2, quiet=True) as dep:
        (response,) = dep.post("/", texts(1), return_responses=True)
    assert [route.executor for route in response.routes] == ["gateway", "executor"]
    assert all(
        route.end_time.ToNanoseconds() >= route.start_time.ToNanoseconds() > 0 for route in response.routes
    )


def test_stream_false_uses_one_call_per_request(client):
    # unary calls run up to `prefetch` at once, as jina's do: only results_in_order fixes the order
    result = client.post(
        "/", texts(5), request_size=2, stream=False, results_in_order=True, return_type=DocList[TextDoc]
    )
    assert result.text == [f"echo {i}" for i in range(5)]
    unordered = client.post("/", texts(5), request_size=2, stream=False, return_type=DocList[TextDoc])
    assert sorted(unordered.text) == [f"echo {i}" for i in range(5)]


def test_results_in_order_with_replicas():
    # CLIENT-28
    with Deployment(uses=RandomSleepExecutor, replicas=3, quiet=True) as dep:
        inputs = texts(180)
        result = dep.post("/", inputs, request_size=10, results_in_order=True, return_type=DocList[TextDoc])
    assert result.text == inputs.text


def test_prefetch_limits_requests_in_flight():
    with Deployment(uses=InFlight, quiet=True) as dep, Client(port=dep.port, prefetch=2) as client:
        responses = client.post(
            "/", texts(12), request_size=1, parameters={"together": 2}, return_responses=True
        )
    most = max(response.parameters["__results__"]["executor/rep-0"]["most"] for response in responses)
    assert most == 2


def test_prefetch_per_post(port):
    with Deployment(uses=InFlight, quiet=True) as dep, Client(port=dep.port) as client:
        responses = client.post("/", texts(6), request_size=1, prefetch=1, return_responses=True)
    assert {response.parameters["__results__"]["executor/rep-0"]["most"] for response in responses} == {1}


def test_timeout(client):
    with pytest.raises(TimeoutError):
        client.post("/slow", texts(1), timeout=0.1)


@pytest.mark.parametrize("count", [1, 3], ids=["blocking unary call", "asyncio stream"])
def test_a_client_reaches_a_server_restarted_on_the_same_port(free_port, count):
    """The client's channel failed to connect while the server was down; it must not wait
    out gRPC's reconnect backoff (1 s and growing) once the server is back."""
    expected = [f"echo {i}" for i in range(count)]
    with Client(port=free_port) as client:
        with Deployment(uses=Echo, port=free_port, quiet=True):
            assert (
                client.post("/", texts(count), request_size=1, return_type=DocList[TextDoc]).text == expected
            )
        with pytest.raises(ServerUnavailableError):  # the dial fails and the backoff starts
            client.post("/", texts(count), request_size=1)
        with Deployment(uses=Echo, port=free_port, quiet=True):  # ready: its health check passed
            assert (
                client.post("/", texts(count), request_size=1, return_type=DocList[TextDoc]).text == expected
            )


def test_server_not_there_is_server_unavailable(free_port):
    with Client(port=free_port) as client, pytest.raises(ServerUnavailableError, match=str(free_port)):
        client.post("/", texts(1))


def test_retries_reach_a_server_that_starts_late(free_port):
    # The port first belongs to a socket that hangs up on the client: its first attempt
    # surely fails. Only then does the Deployment start there; the client's retries reach it.
    doorman = socket.create_server(("127.0.0.1", free_port))
    started = threading.Event()
    stop = threading.Event()

    def serve_after_the_first_attempt():
        with doorman:
            connection, _ = doorman.accept()
            connection.close()
        with Deployment(uses=Echo, port=free_port, host="127.0.0.1", quiet=True) as dep:
            started.set()
            dep.block(stop)

    server = threading.Thread(target=serve_after_the_first_attempt)
    server.start()
    try:
        with Client(port=free_port) as client:
            result = client.post(
                "/",
                texts(2),
                max_attempts=200,  # a budget no slow start exhausts; the test's timeout bounds it
                initial_backoff=0.05,
                max_backoff=0.2,
                return_type=DocList[TextDoc],
            )
        assert result.text == ["echo 0", "echo 1"]
        assert started.is_set()
    finally:
        stop.set()
        if not started.is_set():  # the client never came: let the doorman go
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", free_port)).close()
        server.join()


def test_async_client(port):
    async def main():
        client = Client(host="127.0.0.1", port=port, asyncio=True)
        try:
            collected = []
            async for docs in client.post("/", texts(4), request_size=2, return_type=DocList[TextDoc]):
                collected.extend(docs.text)
            return collected
        finally:
            await client.close()

    assert sorted(asyncio.run(main())) == [f"echo {i}" for i in range(4)]


def test_is_flow_ready_and_dry_run(client, free_port):
    assert client.is_flow_ready()
    assert client.dry_run()
    with Client(port=free_port) as nothing:
        assert not nothing.is_flow_ready(timeout=0.5)


def test_readiness_through_a_gateway_and_from_the_async_client():
    async def ask(port):
        client = Client(port=port, asyncio=True)
        try:
            return await client.is_flow_ready(), await client.dry_run()
        finally:
            await client.close()

    with Deployment(uses=Echo, replicas=2, quiet=True) as dep:
        client = Client(port=dep.port)
        try:
            assert client.is_flow_ready()
            assert client.dry_run()
        finally:
            client.close()
        assert asyncio.run(ask(dep.port)) == (True, True)


@pytest.mark.parametrize("replicas", [1, 2], ids=["worker", "gateway"])
def test_every_server_answers_grpc_health_checks(runtime, replicas):
    with Deployment(uses=Echo, replicas=replicas, runtime=runtime, quiet=True) as dep:
        with grpc.insecure_channel(f"127.0.0.1:{dep.port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_grpc_channel_options_apply_on_top_of_the_defaults(port):
    # CLIENT-25: a 1 KiB receive limit rejects a 10 KiB answer, on the streamed and the unary path
    big = DocList[TextDoc]([TextDoc(text="x" * 10_000)])
    options = {"grpc.max_receive_message_length": 1024}
    with Client(host="127.0.0.1", port=port, grpc_channel_options=options) as client:
        assert client.post("/", texts(1), return_type=DocList[TextDoc]).text == ["echo 0"]
        for stream in (True, False):
            with pytest.raises(DevkitError, match="RESOURCE_EXHAUSTED"):
                client.post("/", big, stream=stream)
    with Client(host="127.0.0.1", port=port) as client:
        assert len(client.post("/", big)) == 1
