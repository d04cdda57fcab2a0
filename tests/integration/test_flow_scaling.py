"""Replicas, shards and external Executors inside a Flow (SCALE-1, SCALE-5, SCALE-6)."""

from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from docarray import BaseDoc, DocList

from devkit import ConfigError, Deployment, Executor, Flow, requests
from devkit.proto import jina_pb2


class TextDoc(BaseDoc):
    text: str = ""


class WhoAmI(Executor):
    @requests
    def who(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += (
                f"{self.metas.name}:shard-{self.runtime_args.shard_id}/rep-{self.runtime_args.replica_id};"
            )

    @requests(on="/search")
    def search(self, **kwargs):
        return {"shard": self.runtime_args.shard_id}


class FooExec(Executor):
    @requests
    async def add_text(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for d in docs:
            d.text += "hello, world!"


class BarExec(Executor):
    @requests
    async def add_text(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for d in docs:
            d.text += "goodbye!"


def test_replicas_in_a_flow_share_the_requests():
    with Flow(quiet=True).add(name="slow_encoder", uses=WhoAmI, replicas=3).add(name="fast_indexer") as f:
        texts = [f.post("/", TextDoc(), return_type=DocList[TextDoc]).text[0] for _ in range(6)]
    assert set(texts) == {f"slow_encoder:shard-0/rep-{i};" for i in range(3)}


def test_dummy_example_foo_then_bar_with_replicas():
    with Flow(quiet=True).add(uses=FooExec, replicas=3).add(uses=BarExec, replicas=2) as f:
        assert f.post("/", [TextDoc(text="")], return_type=DocList[TextDoc]).text == ["hello, world!goodbye!"]


def test_shards_with_polling_all_answer_every_request_and_results_merge():
    flow = Flow(quiet=True).add(name="indexer", uses=WhoAmI, shards=2, polling={"/search": "ALL", "*": "ANY"})
    with flow as f:
        (response,) = f.post("/search", TextDoc(), return_responses=True)
        any_texts = {f.post("/", TextDoc(), return_type=DocList[TextDoc]).text[0] for _ in range(4)}
    assert response.parameters["__results__"] == {
        "indexer-0/rep-0": {"shard": 0},
        "indexer-1/rep-0": {"shard": 1},
    }
    assert any_texts == {"indexer:shard-0/rep-0;", "indexer:shard-1/rep-0;"}


def test_shards_and_replicas_together():
    with Flow(quiet=True).add(name="both", uses=WhoAmI, shards=2, replicas=2, polling="ALL") as f:
        (response,) = f.post("/search", TextDoc(), return_responses=True)
    assert set(response.parameters["__results__"]) in (
        {f"both-0/rep-{a}", f"both-1/rep-{b}"} for a in (0, 1) for b in (0, 1)
    )


# -- external Executors ---------------------------------------------------------------------
@pytest.fixture
def external():
    """A Deployment started outside the Flow; yields its port."""
    with Deployment(uses=WhoAmI, name="outside", quiet=True) as dep:
        yield dep


@pytest.mark.parametrize("form", ["host:port", "host+port"])
def test_external_executor_is_used_and_survives_the_flow(external, form):
    if form == "host:port":
        flow = Flow(quiet=True).add(host=f"127.0.0.1:{external.port}", external=True, name="ext")
    else:
        flow = Flow(quiet=True).add(host="127.0.0.1", port=external.port, external=True, name="ext")
    with flow:
        assert flow.post("/", TextDoc(), return_type=DocList[TextDoc]).text == ["outside:shard-0/rep-0;"]
    assert not flow.alive_servers
    assert external.post("/", TextDoc(), return_type=DocList[TextDoc]).text == ["outside:shard-0/rep-0;"]


def test_external_replicas_from_host_and_port_lists():
    with (
        Deployment(uses=WhoAmI, name="one", quiet=True) as one,
        Deployment(uses=WhoAmI, name="two", quiet=True) as two,
    ):
        flow = Flow(quiet=True).add(host=["127.0.0.1", "127.0.0.1"], port=[one.port, two.port], external=True)
        with flow:
            texts = {flow.post("/", TextDoc(), return_type=DocList[TextDoc]).text[0] for _ in range(4)}
    assert texts == {"one:shard-0/rep-0;", "two:shard-0/rep-0;"}


def test_external_executor_in_the_middle_of_a_flow(external):
    flow = (
        Flow(quiet=True)
        .add(uses=WhoAmI, name="local")
        .add(host=f"127.0.0.1:{external.port}", external=True, name="ext")
        .add(uses=BarExec)
    )
    with flow:
        assert flow.post("/", TextDoc(), return_type=DocList[TextDoc]).text == [
            "local:shard-0/rep-0;outside:shard-0/rep-0;goodbye!"
        ]


def test_external_without_a_port_is_a_config_error():
    with pytest.raises(ConfigError, match="port"):
        Flow().add(host="127.0.0.1", external=True)


@pytest.fixture
def recording_executor():
    """A bare gRPC server speaking the Executor side of the jina protocol; records call metadata."""
    seen: list[dict[str, str]] = []

    def process_single_data(request: jina_pb2.DataRequestProto, context: grpc.ServicerContext):
        seen.append(dict(context.invocation_metadata()))
        return request

    handler = grpc.method_handlers_generic_handler(
        "jina.JinaSingleDataRequestRPC",
        {
            "process_single_data": grpc.unary_unary_rpc_method_handler(
                process_single_data,
                request_deserializer=jina_pb2.DataRequestProto.FromString,
                response_serializer=jina_pb2.DataRequestProto.SerializeToString,
            )
        },
    )
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port, seen
    server.stop(grace=None).wait()


def test_grpc_metadata_is_sent_with_every_call_to_an_external_executor(recording_executor):
    port, seen = recording_executor
    flow = Flow(quiet=True).add(
        host=f"127.0.0.1:{port}", external=True, grpc_metadata={"authorization": "token-1"}
    )
    with flow:
        assert flow.post("/", TextDoc(text="x"), return_type=DocList[TextDoc]).text == ["x"]
    assert seen and all(call.get("authorization") == "token-1" for call in seen)
