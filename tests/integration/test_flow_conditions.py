"""Conditioning with ``when=`` (FLOW-17): filters cut a branch; parallel branches do not affect each other."""

import textwrap

from docarray import BaseDoc, DocList

from devkit import Executor, Flow, requests


class MyDoc(BaseDoc):
    text: str = ""
    tags: dict[str, int] = {}


class MyExec(Executor):
    @requests
    def foo(self, docs: DocList[MyDoc], **kwargs) -> DocList[MyDoc]:
        for doc in docs:
            doc.text += f"|{self.metas.name}"


class CountCalls(Executor):
    """Answers every request, with the number of documents it was sent, in ``__results__``."""

    @requests
    def foo(self, docs: DocList[MyDoc], **kwargs):
        return {"received": len(docs)}


def two_docs() -> DocList[MyDoc]:
    return DocList[MyDoc]([MyDoc(tags={"key": 5}), MyDoc(tags={"key": 4})])


def test_single_condition_keeps_only_matching_documents():
    f = Flow(quiet=True).add(uses=MyExec).add(uses=MyExec, when={"tags__key": {"$eq": 5}})
    with f:
        ret = f.post(on="/search", inputs=two_docs(), return_type=DocList[MyDoc])
    assert [doc.tags for doc in ret] == [{"key": 5}]


def test_sequential_conditions_filter_the_whole_branch():
    f = (
        Flow(quiet=True)
        .add(uses=MyExec, name="first")
        .add(uses=MyExec, when={"tags__key": {"$eq": 5}}, name="exec1", needs="first")
        .add(uses=MyExec, when={"tags__key": {"$eq": 4}}, needs="exec1", name="exec2")
    )
    with f:
        ret = f.post(on="/search", inputs=two_docs(), return_type=DocList[MyDoc])
    assert list(ret) == []


def test_parallel_conditions_are_independent_and_rejoined():
    f = (
        Flow(quiet=True)
        .add(uses=MyExec, name="first")
        .add(uses=MyExec, when={"tags__key": {"$eq": 5}}, needs="first", name="exec1")
        .add(uses=MyExec, when={"tags__key": {"$eq": 4}}, needs="first", name="exec2")
        .needs_all(uses=MyExec, name="join")
    )
    with f:
        ret = f.post(on="/search", inputs=two_docs(), return_type=DocList[MyDoc])
    assert [doc.tags for doc in ret] == [{"key": 5}, {"key": 4}]
    assert ret.text == ["|first|exec1|join", "|first|exec2|join"]


def test_a_filtered_executor_still_receives_an_empty_request():
    f = Flow(quiet=True).add(uses=CountCalls, name="counter", when={"tags__key": {"$eq": 99}})
    with f:
        (response,) = f.post("/", two_docs(), return_responses=True)
    assert response.parameters["__results__"] == {"counter/rep-0": {"received": 0}}


def test_condition_operators_exists_and_gte():
    f = (
        Flow(quiet=True)
        .add(uses=MyExec, name="big", when={"tags__key": {"$gte": 5}}, needs="gateway")
        .add(uses=MyExec, name="has_key", when={"tags__key": {"$exists": True}}, needs="gateway")
        .needs_all(name="join")
    )
    docs = DocList[MyDoc]([MyDoc(tags={"key": 7}), MyDoc(tags={"key": 1}), MyDoc(tags={})])
    with f:
        ret = f.post("/", docs, return_type=DocList[MyDoc])
    # key 7 passed both branches (docarray reduce_all keeps the first need's value); key 1 one; {} neither
    assert [(doc.tags, doc.text) for doc in ret] == [({"key": 7}, "|big"), ({"key": 1}, "|has_key")]


def test_condition_from_yaml(tmp_path):
    (tmp_path / "my_exec.py").write_text(
        textwrap.dedent(
            """
            from docarray import BaseDoc, DocList
            from devkit import Executor, requests

            class MyDoc(BaseDoc):
                text: str = ""
                tags: dict[str, int] = {}

            class MyExec(Executor):
                @requests
                def foo(self, docs: DocList[MyDoc], **kwargs) -> DocList[MyDoc]:
                    for doc in docs:
                        doc.text = "seen"
            """
        )
    )
    (tmp_path / "flow.yml").write_text(
        textwrap.dedent(
            """
            jtype: Flow
            executors:
              - name: executor
                uses: MyExec
                py_modules: my_exec.py
                when:
                  tags__key:
                    $eq: 5
            """
        )
    )
    f = Flow.load_config(str(tmp_path / "flow.yml"))
    f.quiet = True
    with f:
        ret = f.post(on="/search", inputs=two_docs(), return_type=DocList[MyDoc])
    assert [(doc.tags, doc.text) for doc in ret] == [({"key": 5}, "seen")]
