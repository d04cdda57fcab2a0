"""Requests through a Flow: per-Executor parameters, ``target_executor``, ``__results__``,
``return_responses``, ``results_in_order`` and endpoints nobody serves."""

import asyncio
import random

import pytest
from docarray import BaseDoc, DocList

from devkit import Client, Executor, ExecutorError, Flow, requests


class TextDoc(BaseDoc):
    text: str = ""


class FooExecutor(Executor):
    @requests
    async def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = f"foo was here and got {len(docs)} document"


class BarExecutor(Executor):
    @requests
    async def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = f"bar was here and got {len(docs)} document"


class EchoParameters(Executor):
    """Returns the parameters it received, so they come back in ``__results__``."""

    @requests
    def echo(self, parameters: dict, **kwargs):
        return dict(parameters)


class Shuffle(Executor):
    """Answers after a random short delay, so responses come back out of order."""

    @requests
    async def shuffle(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        await asyncio.sleep(random.uniform(0, 0.05))


class OnlyIndex(Executor):
    @requests(on="/index")
    def index(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = "indexed"


def foo_bar_flow() -> Flow:
    return (
        Flow(quiet=True).add(uses=FooExecutor, name="fooExecutor").add(uses=BarExecutor, name="barExecutor")
    )


# -- CLIENT-19 / CLIENT-23: target_executor -------------------------------------------------
def test_target_executor_example_output_is_exact():
    with foo_bar_flow() as f:
        client = Client(port=f.port)
        docs = client.post(
            on="/", inputs=TextDoc(text=""), target_executor="bar*", return_type=DocList[TextDoc]
        )
        client.close()
    assert docs.text == ["bar was here and got 1 document"]


def test_target_executor_is_a_regex_matched_from_the_start_of_the_name():
    with foo_bar_flow() as f:
        assert f.post("/", TextDoc(), target_executor="foo", return_type=DocList[TextDoc]).text == [
            "foo was here and got 1 document"
        ]
        assert f.post("/", TextDoc(), target_executor="Executor", return_type=DocList[TextDoc]).text == [""]
        assert f.post("/", TextDoc(), target_executor="(foo|bar)Exec", return_type=DocList[TextDoc]).text == [
            "bar was here and got 1 document"
        ]


# -- CLIENT-18: parameters for one Executor -------------------------------------------------
def test_executor_specific_parameters_reach_only_their_executor():
    with Flow(quiet=True).add(name="exec1", uses=EchoParameters).add(name="exec2", uses=EchoParameters) as f:
        client = Client(port=f.port)
        (response,) = client.post(
            "/index",
            DocList[BaseDoc]([BaseDoc()]),
            parameters={"exec1__parameter_exec1": "param_exec1", "exec2__parameter_exec1": "param_exec2"},
            return_responses=True,
        )
        client.close()
    assert response.parameters["__results__"] == {
        "exec1/rep-0": {"parameter_exec1": "param_exec1"},
        "exec2/rep-0": {"parameter_exec1": "param_exec2"},
    }


def test_plain_parameters_reach_every_executor_and_results_of_each_are_kept():
    flow = (
        Flow(quiet=True)
        .add(name="a", uses=EchoParameters)
        .add(name="b", uses=EchoParameters, needs="gateway")
    )
    with flow.needs_all(name="join") as f:
        (response,) = f.post("/", parameters={"hello": "world", "a__only": 1}, return_responses=True)
    assert response.parameters["__results__"] == {
        "a/rep-0": {"hello": "world", "only": 1},
        "b/rep-0": {"hello": "world"},
    }
    assert response.parameters["hello"] == "world"


# -- return_responses / results_in_order ----------------------------------------------------
def test_return_responses_gives_one_response_per_request_with_the_route_taken():
    with foo_bar_flow() as f:
        responses = f.post(
            "/",
            DocList[TextDoc]([TextDoc() for _ in range(4)]),
            request_size=2,
            return_responses=True,
            return_type=DocList[TextDoc],
        )
    assert len(responses) == 2
    for response in responses:
        assert [route.executor for route in response.routes] == ["gateway", "fooExecutor", "barExecutor"]
        assert response.docs.text == ["bar was here and got 2 document"] * 2


def test_results_in_order_returns_documents_in_input_order():
    inputs = DocList[TextDoc]([TextDoc(text=str(i)) for i in range(20)])
    with Flow(quiet=True).add(uses=Shuffle, replicas=2) as f:
        returned = f.post("/", inputs, request_size=1, results_in_order=True, return_type=DocList[TextDoc])
    assert returned.text == [str(i) for i in range(20)]


# -- endpoints ------------------------------------------------------------------------------
def test_an_endpoint_no_executor_serves_is_a_clear_error():
    with Flow(quiet=True).add(uses=OnlyIndex, name="indexer") as f:
        assert f.post("/index", TextDoc(), return_type=DocList[TextDoc]).text == ["indexed"]
        with pytest.raises(ExecutorError) as info:
            f.post("/search", TextDoc(), return_type=DocList[TextDoc])
    assert "'/search'" in str(info.value) and "/index" in str(info.value)


def test_executors_that_do_not_serve_an_endpoint_pass_its_documents_on():
    with Flow(quiet=True).add(uses=OnlyIndex).add(uses=BarExecutor) as f:
        assert f.post("/search", TextDoc(text="x"), return_type=DocList[TextDoc]).text == [
            "bar was here and got 1 document"
        ]
        assert f.post("/index", TextDoc(text="x"), return_type=DocList[TextDoc]).text == [
            "bar was here and got 1 document"
        ]
