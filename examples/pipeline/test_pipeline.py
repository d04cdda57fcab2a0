"""Testing the text pipeline with devkit's kit, as a user of devkit would.

The same Flow runs on the thread and the process runtime, its contracts are checked before
anything starts, and the fake network puts latency, connection resets and gRPC failures on
the hop between the gateway and the embedding replicas.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from docarray import DocList

from devkit import ExecutorError
from devkit.testing.contracts import assert_contracts, check_flow
from devkit.testing.faults import Schedule

from .executors import (
    DIM,
    Clean,
    EmbedExpectingLanguage,
    TaggedDoc,
    TextDoc,
    pipeline,
)

SENTENCES = ["Hello   World", "the quick brown fox", "devkit", "Jina speaks gRPC", "a b c d e"]


def texts() -> DocList[TextDoc]:
    return DocList[TextDoc](TextDoc(text=text) for text in SENTENCES)


def check_answers(sent: DocList[TextDoc], got: DocList[TaggedDoc]) -> None:
    """Every document comes back once, cleaned, embedded and tagged."""
    assert sorted(doc.id for doc in got) == sorted(doc.id for doc in sent), (
        "a document was lost or duplicated"
    )
    by_id = {doc.id: doc for doc in got}
    for doc in sent:
        answer = by_id[doc.id]
        assert answer.text == " ".join(doc.text.lower().split())
        assert answer.embedding is not None and answer.embedding.shape == (DIM,)
        assert np.isclose(np.linalg.norm(answer.embedding), 1.0, atol=1e-5)
        assert answer.tags["size"] == ("long" if answer.words > 2 else "short")


def test_the_executors_fit_together(flow_factory):
    assert_contracts(pipeline(flow_factory()), input_schema=TextDoc)


def test_a_mismatch_is_reported_before_anything_starts(flow_factory):
    flow = flow_factory().add(uses=Clean, name="clean").add(uses=EmbedExpectingLanguage, name="embed")
    report = check_flow(flow)
    assert not report.ok
    assert any(
        (problem.upstream, problem.downstream) == ("clean", "embed") and "language" in problem.field
        for problem in report.incompatibilities
    ), str(report)


@pytest.mark.devkit_runtimes("thread", "process")
def test_the_pipeline_answers_on_every_runtime(flow_factory):
    sent = texts()
    with pipeline(flow_factory()) as flow:
        got = flow.post("/", sent, return_type=DocList[TaggedDoc], request_size=2)
    check_answers(sent, got)


@pytest.mark.devkit_runtimes("thread", "process")
def test_latency_on_the_embedding_hop_slows_but_loses_nothing(network, flow_factory):
    flow = network.attach(pipeline(flow_factory()))
    embed = network.edge("gateway", "embed")
    embed.latency(0.05, jitter=0.02)
    sent = texts()
    with flow:
        got = flow.post("/", sent, return_type=DocList[TaggedDoc], request_size=1)
    check_answers(sent, got)
    assert embed.stats.faults["latency"] > 0


def test_a_reset_connection_is_retried(network, flow_factory):
    flow = network.attach(pipeline(flow_factory()))
    replica0 = network.edge("gateway", "embed", replica=0)
    replica0.reset_peer(times=1)
    sent = texts()
    with flow:
        got = flow.post("/", sent, return_type=DocList[TaggedDoc], request_size=1)
    check_answers(sent, got)
    assert replica0.stats.faults["reset_peer"] == 1


@pytest.mark.devkit_runtimes("thread", "process")
def test_an_unavailable_replica_is_skipped(network, flow_factory):
    flow = network.attach(pipeline(flow_factory()))
    replica0 = network.edge("gateway", "embed", replica=0, layer="grpc")
    replica0.fail(grpc.StatusCode.UNAVAILABLE, when=Schedule.every(2))
    sent = texts()
    with flow:
        got = flow.post("/", sent, return_type=DocList[TaggedDoc], request_size=1, prefetch=1)
    check_answers(sent, got)
    assert replica0.stats.codes.get("UNAVAILABLE", 0) >= 1


def test_an_internal_error_names_the_executor_and_spares_the_other_requests(network, flow_factory):
    flow = network.attach(pipeline(flow_factory()))
    embed = network.edge("gateway", "embed", layer="grpc")
    embed.fail_where({"text": {"$eq": "devkit"}}, grpc.StatusCode.INTERNAL)
    failures: list[str] = []
    answered: list[str] = []
    with flow:
        flow.post(
            "/",
            texts(),
            return_type=DocList[TaggedDoc],
            request_size=1,
            on_done=lambda response: answered.extend(response.docs.text),
            on_error=lambda response: failures.append(response.status.description),
        )
        with pytest.raises(ExecutorError, match="'embed'"):
            flow.post("/", TextDoc(text="devkit"), return_type=DocList[TaggedDoc])
    assert len(failures) == 1 and "embed" in failures[0]
    assert sorted(answered) == sorted(" ".join(t.lower().split()) for t in SENTENCES if t != "devkit")


@pytest.mark.devkit_protocols("grpc", "http", "websocket")
def test_the_pipeline_answers_over_every_protocol(flow_factory, client_factory):
    sent = texts()
    with pipeline(flow_factory()) as flow:
        got = client_factory(flow).post("/", sent, return_type=DocList[TaggedDoc], request_size=2)
    check_answers(sent, got)
