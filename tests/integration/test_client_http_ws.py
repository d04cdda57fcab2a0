"""The HTTP and WebSocket clients against devkit's own gateways: every post option,
callbacks, batching, retries, streaming and readiness, as the gRPC client has them."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator

import pytest
from docarray import BaseDoc, DocList

from devkit import Client, Deployment, Executor, ExecutorError, Flow, requests
from devkit.errors import BadRequestError

PROTOCOLS = ["http", "websocket"]
SCHEMES = {"http": "http", "websocket": "ws"}


class TextDoc(BaseDoc):
    text: str = ""
    n: int = 0


class Shout(Executor):
    @requests(on="/shout")
    def shout(self, docs: DocList[TextDoc], parameters: dict, **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper() + str(parameters.get("suffix", ""))
            doc.n = len(docs)
        return docs

    @requests(on="/fail")
    def fail(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        if any(doc.text == "bad" for doc in docs):
            raise ValueError("no bad documents")
        return docs

    @requests(on="/count")
    def count(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for i, doc in enumerate(docs):
            doc.text = f"{doc.text}-{i}"
        return docs

    @requests(on="/slow")
    async def slow(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        await asyncio.sleep(1.0)
        return docs

    @requests(on="/generate")
    async def generate(self, doc: TextDoc, **kwargs) -> TextDoc:
        for i in range(3):
            yield TextDoc(text=f"{doc.text}-{i}", n=i)


class Tag(Executor):
    @requests
    def tag(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += f"+{self.metas.name}"
        return docs


def texts(*values: str) -> DocList[TextDoc]:
    return DocList[TextDoc]([TextDoc(text=value) for value in values])


@pytest.fixture(scope="module", params=PROTOCOLS)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """A Deployment of ``Shout`` behind a gateway speaking the protocol under test."""
    with Deployment(uses=Shout, name="shout", protocol=request.param, quiet=True) as deployment:
        yield request.param, deployment.port


@pytest.fixture
def client(served: tuple[str, int]) -> Iterator[Client]:
    protocol, port = served
    with Client(host=f"{SCHEMES[protocol]}://127.0.0.1:{port}") as devkit_client:
        yield devkit_client


def test_post_with_parameters_batches_and_order(client):
    docs = client.post(
        "/shout",
        texts("a", "b", "c", "d", "e"),
        {"suffix": "!"},
        request_size=2,
        results_in_order=True,
        return_type=DocList[TextDoc],
    )
    assert docs.text == ["A!", "B!", "C!", "D!", "E!"]
    assert docs.n == [2, 2, 2, 2, 1]  # one request per request_size documents


def test_stream_false_and_prefetch_give_the_same_documents(client):
    expected = ["A", "B", "C", "D", "E"]
    unary = client.post(
        "/shout", texts("a", "b", "c", "d", "e"), request_size=1, stream=False, return_type=TextDoc
    )
    limited = client.post(
        "/shout", texts("a", "b", "c", "d", "e"), request_size=1, prefetch=1, return_type=TextDoc
    )
    assert sorted(unary.text) == expected
    assert sorted(limited.text) == expected


def test_timeout(client):
    with pytest.raises(TimeoutError):
        client.post("/slow", texts("a"), timeout=0.2)


def test_return_responses_carry_header_parameters_and_routes(client):
    responses = client.post(
        "shout", texts("a", "b", "c"), {"suffix": "?", "count": 3}, request_size=2, return_responses=True
    )
    assert sorted(len(response.docs) for response in responses) == [1, 2]
    assert len({response.header.request_id for response in responses}) == 2
    for response in responses:
        assert response.header.exec_endpoint == "/shout"
        assert response.parameters == {"suffix": "?", "count": 3}  # ints stay ints
        assert not response.is_error()
    assert [route.executor for route in responses[0].routes][-1] == "shout"


def test_executor_error_raises_naming_the_executor(client):
    with pytest.raises(ExecutorError) as caught:
        client.post("/fail", texts("bad"))
    assert (caught.value.executor, caught.value.name) == ("shout", "ValueError")
    assert "no bad documents" in caught.value.description


def test_callbacks_and_continue_on_error(client):
    done, errors, always = [], [], []
    result = client.post(
        "/fail",
        texts("ok", "bad", "ok"),
        request_size=1,
        on_done=done.append,
        on_error=errors.append,
        on_always=always.append,
    )
    assert result is None
    assert (len(done), len(errors), len(always)) == (2, 1, 3)
    assert "no bad documents" in errors[0].status.description
    kept = client.post(
        "/fail",
        texts("ok", "bad", "ok"),
        request_size=1,
        continue_on_error=True,
        return_type=DocList[TextDoc],
    )
    assert kept.text == ["ok", "ok"]


def test_unknown_endpoint_is_an_error_naming_it(served, client):
    # HTTP answers 404; a WebSocket stream answers the request with the gateway's error
    expected = BadRequestError if served[0] == "http" else ExecutorError
    with pytest.raises(expected, match=r"no Executor serves endpoint '/nowhere'; served endpoints: .*/shout"):
        client.post("/nowhere", texts("a"))


def test_stream_doc_yields_each_document(client):
    docs = client.stream_doc("/generate", TextDoc(text="hey"), return_type=TextDoc)
    assert [(doc.text, doc.n) for doc in docs] == [("hey-0", 0), ("hey-1", 1), ("hey-2", 2)]


def test_readiness_and_dry_run(client):
    assert client.is_flow_ready(timeout=5.0)
    assert client.dry_run(timeout=5.0)


def test_asyncio_client(served):
    protocol, port = served

    async def main() -> list[str]:
        client = Client(host="127.0.0.1", port=port, protocol=protocol, asyncio=True)
        collected: list[str] = []
        try:
            assert await client.is_flow_ready()
            async for docs in client.post(
                "/shout", texts("a", "b", "c"), request_size=1, return_type=TextDoc
            ):
                collected.extend(docs.text)
        finally:
            await client.close()
        return collected

    assert sorted(asyncio.run(main())) == ["A", "B", "C"]


def test_many_posts_from_threads_share_the_client(client):
    results: dict[int, list[str]] = {}

    def post(i: int) -> None:
        results[i] = client.post("/shout", texts(f"t{i}"), return_type=DocList[TextDoc]).text

    threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == {i: [f"T{i}"] for i in range(8)}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_target_executor_reaches_only_the_matching_executors(protocol):
    flow = (
        Flow(protocol=protocol)
        .add(uses=Tag, name="tag_a")
        .add(uses=Tag, name="tag_b")
        .add(uses=Tag, name="other")
    )
    with flow, Client(host=f"{SCHEMES[protocol]}://127.0.0.1:{flow.port}") as client:
        everyone = client.post("/", texts("x"), return_type=DocList[TextDoc])
        tags = client.post("/", texts("x"), target_executor="tag_.*", return_type=DocList[TextDoc])
    assert everyone.text == ["x+tag_a+tag_b+other"]
    assert tags.text == ["x+tag_a+tag_b"]


class CountingRelay:
    """A TCP relay on loopback that counts the connections made through it."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="counting-relay", daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._relay, "127.0.0.1", 0), self.loop
        ).result(10)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def test_one_connection_carries_every_post(served):
    """HTTP keeps its connection in a pool and WebSocket keeps its one connection open:
    twenty posts, one after the other, open one TCP connection."""
    protocol, port = served
    relay = CountingRelay(port)
    try:
        with Client(host=f"{SCHEMES[protocol]}://127.0.0.1:{relay.port}") as client:
            for i in range(20):
                assert client.post("/shout", texts(f"t{i}"), return_type=DocList[TextDoc]).text == [f"T{i}"]
        assert relay.connections == 1
    finally:
        relay.close()


class _FirstRetry(logging.Handler):
    """Sets ``event`` when the retry policy logs its first retry."""

    def __init__(self, event: threading.Event) -> None:
        super().__init__(logging.DEBUG)
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        self.event.set()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_retries_reach_a_gateway_that_starts_after_the_first_attempt(protocol, free_port):
    retried = threading.Event()
    stop = threading.Event()
    handler = _FirstRetry(retried)
    logger = logging.getLogger("devkit.retry")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)

    def serve_after_a_retry() -> None:
        if retried.wait(30):
            with Deployment(uses=Shout, protocol=protocol, port=free_port, quiet=True) as deployment:
                deployment.block(stop)

    server = threading.Thread(target=serve_after_a_retry)
    server.start()
    try:
        with Client(host=f"{SCHEMES[protocol]}://127.0.0.1:{free_port}") as client:
            docs = client.post(
                "/shout",
                texts("late"),
                max_attempts=200,
                initial_backoff=0.05,
                max_backoff=0.1,
                return_type=DocList[TextDoc],
            )
        assert retried.is_set()
        assert docs.text == ["LATE"]
    finally:
        retried.set()
        stop.set()
        server.join(timeout=30)
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_unreachable_executor_is_a_connection_error_naming_it(protocol, free_port):
    """HTTP answers 503 with the Executor's status, WebSocket answers the request with it in the
    header; the client raises ExecutorUnreachableError, as over gRPC."""
    flow = Flow(protocol=protocol).add(name="gone", host="127.0.0.1", port=free_port, external=True)
    with flow, Client(host=f"{SCHEMES[protocol]}://127.0.0.1:{flow.port}") as client:
        with pytest.raises(ConnectionError, match="Executor 'gone' could not be reached"):
            client.post("/", texts("a"))
        assert client.is_flow_ready(timeout=5.0) is False
        errors = []
        client.post("/", texts("a"), on_error=errors.append)  # an answer like any other
        assert errors[0].status.exception.name == "ExecutorUnavailableError"
