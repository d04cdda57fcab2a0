"""Tracing: spans for the client call, the gateway, each hop and each Executor method, in one
trace across threads and processes, exported over OTLP/gRPC to a real receiver."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest
from docarray import DocList
from docarray.documents import TextDoc

from devkit import Client, Deployment, Executor, Flow, requests

CALL = "/jina.JinaRPC/Call"
HOP = "/jina.JinaSingleDataRequestRPC/process_single_data"


class Upper(Executor):
    @requests(on="/index")
    def index(self, docs: DocList[TextDoc], tracing_context, **kwargs) -> DocList[TextDoc]:
        with self.tracer.start_as_current_span("upper-case", context=tracing_context) as span:
            span.set_attribute("docs", len(docs))
            for doc in docs:
                doc.text = doc.text.upper()
        with self.tracer.start_as_current_span("implicit-child"):  # the endpoint's span is current
            pass
        return docs


class Exclaim(Executor):
    @requests(on="/index")
    async def index(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += "!"
        return docs


class Fails(Executor):
    @requests(on="/index")
    def index(self, docs: DocList[TextDoc], **kwargs) -> None:
        raise ValueError("bad input")


@pytest.mark.process
@pytest.mark.parametrize("runtime", ["thread", "process"])
def test_one_trace_from_the_client_through_every_hop_and_executor(spans, runtime):
    flow = (
        Flow(
            tracing=True,
            traces_exporter_host=spans.endpoint,
            traces_exporter_port=spans.port,
            runtime=runtime,
        )
        .add(uses=Upper, name="upper")
        .add(uses=Exclaim, name="exclaim")
    )
    with flow:
        docs = flow.post("/index", DocList[TextDoc]([TextDoc(text="hi")]), return_type=DocList[TextDoc])
    assert docs.text == ["HI!"]
    spans.wait_for_named("/index", count=2)
    spans.wait_for(lambda s: len(s.named(CALL)) >= 2 and len(s.named(HOP)) >= 4)

    assert len({span.trace_id for span in spans}) == 1, spans.tree()
    assert spans.shape() == [
        f"{CALL} CLIENT",
        f"  {CALL} SERVER",
        f"    {HOP} CLIENT",
        f"      {HOP} SERVER",
        "        /index INTERNAL",
        "          upper-case INTERNAL",
        "          implicit-child INTERNAL",
        f"    {HOP} CLIENT",
        f"      {HOP} SERVER",
        "        /index INTERNAL",
    ], spans.tree()
    services = {span.name + " " + span.kind: span.service for span in spans}
    assert services[f"{CALL} CLIENT"] == "client"
    assert services[f"{CALL} SERVER"] == "Flow/gateway"
    assert {span.service for span in spans.named("/index")} == {"upper/rep-0", "exclaim/rep-0"}
    (upper,) = spans.named("upper-case")
    assert upper.attributes["docs"] == 1
    (client_call,) = [s for s in spans.named(CALL) if s.kind == "CLIENT"]
    assert all(span.duration <= client_call.duration for span in spans)
    assert not spans.errors()


def test_a_failing_executor_marks_its_spans_with_the_error(spans, caplog):
    caplog.set_level(logging.WARNING, logger="opentelemetry")
    with (
        Flow(tracing=True).add(uses=Fails, name="fails") as flow,
        pytest.raises(Exception, match="bad input"),
    ):
        flow.post("/index", DocList[TextDoc]([TextDoc(text="x")]))
    spans.wait_for(lambda s: len(s.errors()) >= 3)
    failed = {(span.name, span.kind) for span in spans.errors()}
    assert {(HOP, "SERVER"), (CALL, "SERVER"), (CALL, "CLIENT")} <= failed, spans.tree()
    hop = next(s for s in spans.errors() if s.name == HOP and s.kind == "SERVER")
    assert hop.status_message == "ValueError('bad input')"
    assert hop.attributes["jina.executor"] == "fails"
    # the client stops reading at the error answer: its span ends once, with the answer's error
    (client_call,) = [s for s in spans.named(CALL) if s.kind == "CLIENT"]
    assert client_call.status_message == "ValueError('bad input')"
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")]


def test_a_deployment_and_a_separate_client_share_one_trace(spans):
    with Deployment(uses=Exclaim, name="exclaim", tracing=True) as dep:
        client = Client(port=dep.port, tracing=True)
        client.post("/index", DocList[TextDoc]([TextDoc(text="a")]))
        client.close()
    spans.wait_for_named("/index")
    spans.wait_for(lambda s: len(s.named(CALL)) >= 2)
    assert len({span.trace_id for span in spans}) == 1, spans.tree()
    assert spans.shape() == [f"{CALL} CLIENT", f"  {CALL} SERVER", "    /index INTERNAL"], spans.tree()


def test_a_jina_peer_sees_the_w3c_traceparent_header():
    """The context travels as the standard ``traceparent`` metadata, which jina's OTel
    instrumentation reads: the server gets the client span's trace and span ids."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from devkit.observability.grpc_tracing import aio_client_interceptors
    from devkit.proto import jina_pb2

    seen: dict[str, str] = {}
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    data = jina_pb2.DataRequestProto

    async def echo(request, context):
        seen.update(dict(context.invocation_metadata()))
        return request

    async def scenario():
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "jina.JinaSingleDataRequestRPC",
                    {
                        "process_single_data": grpc.unary_unary_rpc_method_handler(
                            echo, data.FromString, data.SerializeToString
                        )
                    },
                )
            ]
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        interceptors = aio_client_interceptors(provider.get_tracer("test"))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=interceptors) as channel:
            call = channel.unary_unary(
                HOP, request_serializer=data.SerializeToString, response_deserializer=data.FromString
            )
            await call(data())
        await server.stop(None)

    asyncio.run(scenario())
    (span,) = exported.get_finished_spans()
    context = span.get_span_context()
    assert seen["traceparent"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")


def test_tracing_off_creates_no_span_and_no_interceptor(spans):
    with Flow().add(uses=Exclaim, name="exclaim") as flow:
        flow.post("/index", DocList[TextDoc]([TextDoc(text="a")]))
        assert flow.client._async.telemetry is None
    assert Exclaim().tracer.start_span("x").is_recording() is False
    assert len(spans) == 0


def test_a_streamed_call_the_client_abandons_at_an_error_ends_its_server_span_cleanly(spans, caplog):
    """The client stops reading at an error answer and cancels the call. Its span keeps the
    answer's error even when the call's status arrived before the answer was read, and the
    server's span ends with the RPC, keeping the error, though the abandoned handler is
    closed from another task (no "Failed to detach context", no "set_status on an ended span")."""
    caplog.set_level(logging.WARNING, logger="opentelemetry")
    posts = 200
    with Deployment(uses=Fails, name="fails", tracing=True) as dep:
        client = Client(port=dep.port, tracing=True)
        for _ in range(posts):
            with pytest.raises(Exception, match="bad input"):
                client.post("/index", DocList[TextDoc]([TextDoc(text="x")]))
        client.close()
    spans.wait_for(lambda s: len([span for span in s.named(CALL) if span.kind == "SERVER"]) >= posts)
    served = [span for span in spans.named(CALL) if span.kind == "SERVER"]
    assert len(served) == posts, spans.tree()
    assert all(span.status_message == "ValueError('bad input')" for span in served), spans.tree()
    calls = [span for span in spans.named(CALL) if span.kind == "CLIENT"]
    assert len(calls) == posts
    assert all(span.status_message == "ValueError('bad input')" for span in calls), spans.tree()
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")]
