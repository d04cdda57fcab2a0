"""Flow topology: ``needs``, ``needs_all``, parallel branches, joins, and checks before start."""

import asyncio
import threading

import pytest
from docarray import BaseDoc, DocList

from devkit import ConfigError, Executor, Flow, requests
from devkit.spec.flow import GATEWAY, FlowExecutorSpec, FlowSpec
from devkit.spec.models import DeploymentSpec
from devkit.testing.leaks import leaked_since, snapshot


class TextDoc(BaseDoc):
    text: str = ""


class FooExecutor(Executor):
    @requests
    async def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        docs.append(TextDoc(text=f"foo was here and got {len(docs)} document"))


class BarExecutor(Executor):
    @requests
    async def bar(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        docs.append(TextDoc(text=f"bar was here and got {len(docs)} document"))


class BazExecutor(Executor):
    @requests
    async def baz(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        docs.append(TextDoc(text=f"baz was here and got {len(docs)} document"))


class MergeExecutor(Executor):
    @requests
    async def merge(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        return docs


class Tag(Executor):
    """Appends its own name to every document's text."""

    @requests
    def tag(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += f"|{self.metas.name}"


class ProcessDocuments(Executor):
    @requests(on="/change_in_place")
    def in_place(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = "I changed the executor in place"

    @requests(on="/return_different_docarray")
    def ret_docs(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        return DocList[TextDoc]([TextDoc(text="I returned a different Document") for _ in docs])


class PrintDocuments(Executor):
    """Records what it received, as the docs' example prints it."""

    @requests
    def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = f'PrintExecutor: received document with text: "{doc.text}"'
        return docs


#: Two parallel branches meet here: each waits until the other is running too.
BRANCHES_MEET = threading.Barrier(2)


class Rendezvous(Executor):
    """Answers only once the Rendezvous of the other branch is running too (thread runtime);
    if the branches ran one after the other, the barrier would break after 30 s."""

    @requests
    async def meet(self, docs: DocList[TextDoc], **kwargs):
        arrived = await asyncio.to_thread(BRANCHES_MEET.wait, 30)
        return {"arrived": arrived}


class SimpleStrDoc(BaseDoc):
    text: str = ""


class TextWithEmbedding(SimpleStrDoc):
    embedding: list[float] = []


class TextEmbeddingExecutor(Executor):
    @requests(on="/foo")
    def foo(self, docs: DocList[SimpleStrDoc], **kwargs) -> DocList[TextWithEmbedding]:
        return DocList[TextWithEmbedding]([TextWithEmbedding(text=d.text, embedding=[0.5] * 3) for d in docs])


class ProcessEmbedding(Executor):
    @requests(on="/foo")
    def foo(self, docs: DocList[TextWithEmbedding], **kwargs) -> DocList[TextWithEmbedding]:
        for doc in docs:
            doc.text = f"embedding of length {len(doc.embedding)}"


class ProcessText(Executor):
    @requests(on="/foo")
    def foo(self, docs: DocList[SimpleStrDoc], **kwargs) -> DocList[TextWithEmbedding]:
        return DocList[TextWithEmbedding]([TextWithEmbedding(text=d.text) for d in docs])


class LabelledText(BaseDoc):
    text: str = ""
    label: str


class ProcessLabelledText(Executor):
    @requests(on="/foo")
    def foo(self, docs: DocList[LabelledText], **kwargs) -> DocList[LabelledText]:
        return docs


def needs_of(flow: Flow) -> dict[str, tuple[str, ...]]:
    return {e.name: e.needs for e in flow.spec.executors}


# -- FLOW-10: needs -------------------------------------------------------------------------
def test_needs_example_output_is_exact():
    f = (
        Flow(quiet=True)
        .add(uses=FooExecutor, name="fooExecutor")
        .add(uses=BarExecutor, name="barExecutor", needs="fooExecutor")
        .add(uses=BazExecutor, name="bazExecutor", needs="fooExecutor")
        .add(uses=MergeExecutor, needs=["barExecutor", "bazExecutor"])
    )
    with f:
        assert f.post("/", return_type=DocList[TextDoc]).text == [
            "foo was here and got 0 document",
            "bar was here and got 1 document",
            "baz was here and got 1 document",
        ]


def test_join_without_an_executor_of_its_own_still_reduces_by_id():
    f = (
        Flow(quiet=True)
        .add(uses=FooExecutor, name="fooExecutor")
        .add(uses=BarExecutor, name="barExecutor", needs="fooExecutor")
        .add(uses=BazExecutor, name="bazExecutor", needs="fooExecutor")
    )
    with f:  # two open ends: the gateway reduces them as a join would
        assert f.post("/", return_type=DocList[TextDoc]).text == [
            "foo was here and got 0 document",
            "bar was here and got 1 document",
            "baz was here and got 1 document",
        ]


def test_default_needs_is_the_previous_executor_and_the_first_needs_the_gateway():
    f = Flow(quiet=True).add(uses=Tag, name="a").add(uses=Tag, name="b").add(uses=Tag, name="c")
    assert needs_of(f) == {"a": (GATEWAY,), "b": ("a",), "c": ("b",)}
    with f:
        assert f.post("/", TextDoc(text="x"), return_type=DocList[TextDoc]).text == ["x|a|b|c"]


def test_gateway_is_a_need_like_any_other():
    f = Flow(quiet=True).add(uses=Tag, name="a").add(uses=Tag, name="b", needs="gateway").needs_all(uses=Tag)
    assert needs_of(f)["joiner"] == ("a", "b")
    with f:
        (doc,) = f.post("/", TextDoc(text="x"), return_type=DocList[TextDoc])
    # both branches changed the same document; reduced by id, the first need's value is kept
    assert doc.text == "x|a|joiner"


def test_needs_all_needs_every_open_end():
    f = (
        Flow(quiet=True)
        .add(uses=FooExecutor, name="fooExecutor")
        .add(uses=BarExecutor, name="barExecutor", needs="fooExecutor")
        .add(uses=BazExecutor, name="bazExecutor", needs="fooExecutor")
        .needs_all(uses=MergeExecutor, name="merge")
    )
    assert needs_of(f)["merge"] == ("barExecutor", "bazExecutor")
    with f:
        assert f.post("/", return_type=DocList[TextDoc]).text == [
            "foo was here and got 0 document",
            "bar was here and got 1 document",
            "baz was here and got 1 document",
        ]


def test_parallel_branches_run_concurrently():
    f = (
        Flow(quiet=True)
        .add(name="split")
        .add(uses=Rendezvous, name="left", needs="split")
        .add(uses=Rendezvous, name="right", needs="split")
        .needs_all(name="join")
    )
    BRANCHES_MEET.reset()
    with f:
        (response,) = f.post("/", TextDoc(), return_responses=True)
    results = response.parameters["__results__"]
    # both branches were inside their Executor at the same time: one arrived first, one second
    assert sorted([results["left/rep-0"]["arrived"], results["right/rep-0"]["arrived"]]) == [0, 1]


# -- FLOW-8 / FLOW-9: passthrough Executors and document propagation -------------------------
def test_add_without_uses_passes_documents_through():
    f = Flow(quiet=True).add(name="myVeryFirstExecutor").add(name="secondIsBest")
    assert f.executor_names == ["myVeryFirstExecutor", "secondIsBest"]
    with f:
        assert f.post("/", TextDoc(text="untouched"), return_type=DocList[TextDoc]).text == ["untouched"]


def test_changes_in_place_and_returned_doclists_both_propagate_downstream():
    f = Flow(quiet=True).add(uses=ProcessDocuments).add(uses=PrintDocuments)
    with f:
        first = f.post(
            "/change_in_place", DocList[TextDoc]([TextDoc(text="request1")]), return_type=DocList[TextDoc]
        )
        second = f.post(
            "/return_different_docarray",
            DocList[TextDoc]([TextDoc(text="request2")]),
            return_type=DocList[TextDoc],
        )
    assert first.text == ['PrintExecutor: received document with text: "I changed the executor in place"']
    assert second.text == ['PrintExecutor: received document with text: "I returned a different Document"']


# -- FLOW-12: schemas are checked at start ---------------------------------------------------
def test_chained_schemas_that_fit_start_and_serve():
    flow = (
        Flow(quiet=True)
        .add(uses=TextEmbeddingExecutor, name="embed")
        .add(uses=ProcessEmbedding, name="process")
    )
    with flow:
        assert flow.post("/foo", SimpleStrDoc(text="a"), return_type=DocList[TextWithEmbedding]).text == [
            "embedding of length 3"
        ]


def test_a_producer_returning_more_fields_than_its_consumer_reads_starts_and_serves():
    flow = (
        Flow(quiet=True).add(uses=TextEmbeddingExecutor, name="embed").add(uses=ProcessText, name="process")
    )
    with flow:
        docs = flow.post("/foo", SimpleStrDoc(text="a"), return_type=DocList[TextWithEmbedding])
    assert docs.text == ["a"]


def test_chained_schemas_that_do_not_fit_fail_to_start_naming_both_executors():
    before = snapshot()
    flow = (
        Flow(quiet=True)
        .add(uses=TextEmbeddingExecutor, name="embed")
        .add(uses=ProcessLabelledText, name="process")
    )
    with pytest.raises(ConfigError) as info, flow:
        pass
    message = str(info.value)
    assert "'embed'" in message and "'process'" in message and "TextWithEmbedding" in message
    assert "LabelledText requires 'label'" in message
    assert leaked_since(before) == []


# -- invalid topologies: ConfigError when the Flow is built, before anything starts --------
@pytest.mark.parametrize(
    "build, expected",
    [
        (
            lambda: Flow().add(name="a", needs="b").add(name="b", needs="a"),
            r"cycle: (a -> b -> a|b -> a -> b)",
        ),
        (lambda: Flow().add(name="a", needs="a"), "'a' needs itself"),
        (lambda: Flow().add(name="a").add(name="a", needs="gateway"), "'a'.*unique"),
        (lambda: Flow().add(name="gateway"), "reserved"),
    ],
    ids=["cycle", "self-need", "duplicate-name", "gateway-name"],
)
def test_invalid_topologies_are_rejected_when_the_flow_is_built(build, expected):
    with pytest.raises(ConfigError, match=expected):
        build()


def test_an_unknown_need_is_rejected_before_anything_starts():
    """While building, ``needs`` may name an Executor added later; start() checks they all exist."""
    before = snapshot()
    flow = Flow().add(name="a").add(name="b", needs="nowhere")
    with pytest.raises(ConfigError, match="'b' needs 'nowhere', which is not in the Flow"):
        flow.start()
    assert leaked_since(before, grace=0.0) == []
    assert flow.alive_servers == []


def test_needs_may_name_an_executor_added_later():
    flow = Flow().add(name="b", needs="a").add(name="a", needs="gateway")
    assert [e.name for e in flow.spec.ordered()] == ["a", "b"]


def test_a_cycle_error_names_the_executors_on_the_cycle():
    with pytest.raises(ConfigError, match=r"b -> c -> b|c -> b -> c"):
        Flow().add(name="a").add(name="b", needs=["a", "c"]).add(name="c", needs="b")


def test_every_problem_is_reported_at_once():
    spec = FlowSpec(
        executors=(
            FlowExecutorSpec(deployment=DeploymentSpec(name="a"), needs=("x",)),
            FlowExecutorSpec(deployment=DeploymentSpec(name="a"), needs=("y",)),
        )
    )
    with pytest.raises(ConfigError) as info:
        spec.ordered()
    assert "'x'" in str(info.value) and "'y'" in str(info.value) and "unique" in str(info.value)
