"""Merging upstream documents: reduce by id, ``no_reduce``, ``docs_matrix`` and ``docs_map`` (FLOW-11, FLOW-19)."""

from docarray import BaseDoc, DocList

from devkit import Executor, Flow, requests


class MyDoc(BaseDoc):
    text: str = ""


class Exec1(Executor):
    @requests
    def foo(self, docs: DocList[MyDoc], **kwargs) -> DocList[MyDoc]:
        for doc in docs:
            doc.text = "Exec1"


class Exec2(Executor):
    @requests
    def foo(self, docs: DocList[MyDoc], **kwargs) -> DocList[MyDoc]:
        for doc in docs:
            doc.text = "Exec2"


class MergeExec(Executor):
    @requests
    def foo(self, docs: DocList[MyDoc], docs_matrix, **kwargs) -> DocList[MyDoc]:
        documents_to_return = DocList[MyDoc]()
        for doc1, doc2 in zip(*docs_matrix, strict=True):
            documents_to_return.append(MyDoc(text=f'Document merging from "{doc1.text}" and "{doc2.text}"'))
        return documents_to_return


class MapMerge(Executor):
    @requests
    def foo(self, docs: DocList[MyDoc], docs_map, **kwargs) -> DocList[MyDoc]:
        return DocList[MyDoc](
            [MyDoc(text=f"{name}:{','.join(d.text for d in got)}") for name, got in sorted(docs_map.items())]
        )


class Inspect(Executor):
    """Reports what the merge arguments were, as documents."""

    @requests
    def foo(self, docs: DocList[MyDoc], docs_matrix=None, docs_map=None, **kwargs) -> DocList[MyDoc]:
        return DocList[MyDoc](
            [
                MyDoc(text=f"docs={sorted(d.text for d in docs)}"),
                MyDoc(text=f"matrix={docs_matrix is None}"),
                MyDoc(text=f"map={docs_map is None}"),
            ]
        )


class AppendOwn(Executor):
    """Adds one document of its own, named after itself."""

    @requests
    def foo(self, docs: DocList[MyDoc], **kwargs) -> DocList[MyDoc]:
        docs.append(MyDoc(text=self.metas.name))


def test_no_reduce_docs_matrix_example_output_is_exact():
    f = (
        Flow(quiet=True)
        .add(uses=Exec1, name="exec1")
        .add(uses=Exec2, name="exec2")
        .add(uses=MergeExec, needs=["exec1", "exec2"], no_reduce=True)
    )
    with f:
        returned_docs = f.post(on="/", inputs=MyDoc(), return_type=DocList[MyDoc])
    assert (
        f"Resulting documents {returned_docs[0].text}"
        == 'Resulting documents Document merging from "Exec1" and "Exec2"'
    )


def test_docs_matrix_follows_the_order_of_needs():
    f = (
        Flow(quiet=True)
        .add(uses=Exec1, name="exec1", needs="gateway")
        .add(uses=Exec2, name="exec2", needs="gateway")
        .add(uses=MergeExec, needs=["exec2", "exec1"], no_reduce=True)
    )
    with f:
        assert f.post("/", MyDoc(), return_type=DocList[MyDoc]).text == [
            'Document merging from "Exec2" and "Exec1"'
        ]


def test_docs_map_is_keyed_by_upstream_executor_name():
    f = (
        Flow(quiet=True)
        .add(uses=Exec1, name="exec1", needs="gateway")
        .add(uses=Exec2, name="exec2", needs="gateway")
        .add(uses=MapMerge, needs=["exec1", "exec2"], no_reduce=True)
    )
    with f:
        assert f.post("/", MyDoc(), return_type=DocList[MyDoc]).text == ["exec1:Exec1", "exec2:Exec2"]


def test_without_no_reduce_docs_matrix_and_docs_map_are_none_and_docs_are_reduced():
    f = (
        Flow(quiet=True)
        .add(uses=AppendOwn, name="left", needs="gateway")
        .add(uses=AppendOwn, name="right", needs="gateway")
        .add(uses=Inspect, needs=["left", "right"])
    )
    with f:
        assert f.post("/", MyDoc(text="in"), return_type=DocList[MyDoc]).text == [
            "docs=['in', 'left', 'right']",
            "matrix=True",
            "map=True",
        ]


def test_reduce_keeps_first_branch_order_then_new_ids():
    f = (
        Flow(quiet=True)
        .add(uses=AppendOwn, name="first", needs="gateway")
        .add(uses=AppendOwn, name="second", needs="gateway")
        .add(uses=AppendOwn, name="third", needs="gateway")
        .needs_all(name="join")
    )
    inputs = DocList[MyDoc]([MyDoc(text="a"), MyDoc(text="b")])
    with f:
        assert f.post("/", inputs, return_type=DocList[MyDoc]).text == ["a", "b", "first", "second", "third"]
