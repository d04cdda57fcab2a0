"""Every request of a ``Call`` stream (and every unary call) gets exactly one answer, data or
an error status naming the cause, whatever raises on the server; the stream goes on."""

from __future__ import annotations

import re

import grpc
import pytest
from docarray import BaseDoc, DocList

from devkit import Client, Deployment, Executor, ExecutorError, Flow, requests
from devkit.proto import jina_pb2, jina_pb2_grpc
from devkit.wire import new_request, read_docs


class TextDoc(BaseDoc):
    text: str = ""


class Upper(Executor):
    @requests
    def upper(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper()


class Unprintable(Exception):
    """An exception whose message cannot even be rendered."""

    def __repr__(self) -> str:
        raise RuntimeError("repr is broken too")

    def __str__(self) -> str:
        raise RuntimeError("str is broken too")


class RaisesUnprintable(Executor):
    @requests(on="/weird")
    def weird(self, docs: DocList[TextDoc], **kwargs) -> None:
        raise Unprintable()

    @requests
    def upper(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper()


def _request(text: str, endpoint: str = "/", target_executor: str | None = None) -> jina_pb2.DataRequestProto:
    return new_request(endpoint, DocList[TextDoc]([TextDoc(text=text)]), target_executor=target_executor)


def _call(port: int, requests_: list[jina_pb2.DataRequestProto]) -> list[jina_pb2.DataRequestProto]:
    """Send ``requests_`` over one ``Call`` stream with jina's generated stub; every answer."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = jina_pb2_grpc.JinaRPCStub(channel)
        return list(stub.Call(iter(requests_), timeout=30))


def _by_id(answers: list[jina_pb2.DataRequestProto]) -> dict[str, jina_pb2.DataRequestProto]:
    ids = [answer.header.request_id for answer in answers]
    assert len(ids) == len(set(ids)), f"a request was answered more than once: {ids}"
    return {answer.header.request_id: answer for answer in answers}


def _texts(answer: jina_pb2.DataRequestProto) -> list[str]:
    assert answer.header.status.code == jina_pb2.StatusProto.SUCCESS, answer.header.status.description
    return list(read_docs(answer, DocList[TextDoc]).text)


# -- an invalid target_executor (a regex, per the docs) --------------------------------------
def test_a_stream_answers_an_invalid_target_executor_with_an_error_and_goes_on() -> None:
    with Flow().add(name="upper", uses=Upper).add(name="again", uses=Upper) as flow:
        sent = [_request("a"), _request("b", target_executor="(["), _request("c")]
        answers = _by_id(_call(flow.port, sent))
        assert set(answers) == {request.header.request_id for request in sent}
        assert _texts(answers[sent[0].header.request_id]) == ["A"]
        assert _texts(answers[sent[2].header.request_id]) == ["C"]
        status = answers[sent[1].header.request_id].header.status
        assert status.code == jina_pb2.StatusProto.ERROR
        assert status.exception.executor == "gateway"
        assert "target_executor '(['" in status.description
        assert "not a valid regular expression" in status.description


def test_a_unary_call_answers_an_invalid_target_executor_with_an_error() -> None:
    with Deployment(uses=Upper, replicas=2) as dep, grpc.insecure_channel(f"127.0.0.1:{dep.port}") as channel:
        stub = jina_pb2_grpc.JinaSingleDataRequestRPCStub(channel)
        answer = stub.process_single_data(_request("a", target_executor="(["), timeout=30)
        assert answer.header.status.code == jina_pb2.StatusProto.ERROR
        assert "target_executor '(['" in answer.header.status.description
        assert _texts(stub.process_single_data(_request("b"), timeout=30)) == ["B"]


def test_the_client_rejects_an_invalid_target_executor_before_sending(free_port: int) -> None:
    expected = re.escape("target_executor '([' is not a valid regular expression")
    with Client(port=free_port) as nobody_there, pytest.raises(ValueError, match=expected):
        nobody_there.post("/", TextDoc(), target_executor="([")  # refused before dialling anyone
    with Flow().add(name="upper", uses=Upper) as flow, Client(port=flow.port) as client:
        docs = DocList[TextDoc]([TextDoc(text=t) for t in "abc"])
        with pytest.raises(ValueError, match=expected) as caught:
            client.post("/", docs, target_executor="([", request_size=1)
        assert "unterminated character set" in str(caught.value)  # the regex error itself
        with pytest.raises(ValueError, match=expected):
            client.post("/", docs[0], target_executor="([")  # the one-request path too
        assert client.post(
            "/", docs, target_executor="up", request_size=1, return_type=DocList[TextDoc]
        ).text == [
            "A",
            "B",
            "C",
        ]


# -- whatever raises: even an exception that cannot be printed -------------------------------
@pytest.mark.parametrize("replicas", [1, 2], ids=["lone-worker", "gateway"])
def test_an_exception_that_cannot_be_printed_still_gets_one_answer(replicas: int) -> None:
    with Deployment(name="weird", uses=RaisesUnprintable, replicas=replicas) as dep:
        sent = [_request("a"), _request("b", endpoint="/weird"), _request("c")]
        answers = _by_id(_call(dep.port, sent))
        assert set(answers) == {request.header.request_id for request in sent}
        assert _texts(answers[sent[0].header.request_id]) == ["A"]
        assert _texts(answers[sent[2].header.request_id]) == ["C"]
        status = answers[sent[1].header.request_id].header.status
        assert status.code == jina_pb2.StatusProto.ERROR
        assert status.exception.name == "Unprintable"
        assert "weird" in status.exception.executor
        with Client(port=dep.port) as client, pytest.raises(ExecutorError, match="raised Unprintable"):
            client.post("/weird", DocList[TextDoc]([TextDoc(), TextDoc()]), request_size=1)
