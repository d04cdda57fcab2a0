"""Hypothesis strategies from docarray schemas, and fuzzing endpoints with them."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import pytest
from docarray import BaseDoc, DocList
from docarray.typing import ImageUrl, NdArray
from hypothesis import find, given, settings
from hypothesis import strategies as st

from devkit import Deployment, Executor, Flow, requests
from devkit.testing.contracts_schema import TensorDtype
from devkit.testing.strategies import doclists, docs_strategy, fuzz_endpoint


class Inner(BaseDoc):
    label: str
    weight: float


class Everything(BaseDoc):
    text: str
    count: int
    ratio: float
    flag: bool
    maybe: int | None = None
    words: list[str] = []
    tags: dict[str, Any] = {}
    inner: Inner
    many: DocList[Inner] = DocList[Inner]()
    matrix: NdArray[2, 3]
    vector: Annotated[NdArray[4], TensorDtype("int32")]
    free: NdArray


@settings(max_examples=30, deadline=None)
@given(docs_strategy(Everything))
def test_drawn_documents_are_valid_instances_with_declared_shapes_and_dtypes(doc: Everything) -> None:
    assert isinstance(doc, Everything)
    assert Everything.model_validate(doc.model_dump()).id == doc.id
    assert doc.matrix.shape == (2, 3)
    assert doc.vector.shape == (4,) and doc.vector.dtype == np.int32
    assert 1 <= doc.free.ndim <= 2
    assert isinstance(doc.inner, Inner)
    assert all(isinstance(item, Inner) for item in doc.many)
    assert not np.isnan(doc.ratio)


class Optionals(BaseDoc):
    maybe: int | None = None
    many: DocList[Inner] = DocList[Inner]()


def test_optional_fields_are_sometimes_none_and_sometimes_set() -> None:
    assert find(docs_strategy(Optionals), lambda doc: doc.maybe is None).maybe is None
    assert find(docs_strategy(Optionals), lambda doc: doc.maybe is not None).maybe == 0  # shrunk
    assert isinstance(find(docs_strategy(Optionals), lambda doc: len(doc.many) > 0).many[0], Inner)


@settings(max_examples=20, deadline=None)
@given(doclists(Inner, min_size=2, max_size=4))
def test_doclists_respect_their_size_bounds(docs: DocList[Inner]) -> None:
    assert 2 <= len(docs) <= 4
    assert docs.doc_type is Inner


def test_a_field_type_without_a_strategy_is_named_and_overrides_fill_it() -> None:
    class WithUrl(BaseDoc):
        url: ImageUrl

    with pytest.raises(TypeError, match=r"WithUrl\.url"):
        docs_strategy(WithUrl)
    doc = find(docs_strategy(WithUrl, overrides={"url": st.just("http://example.com/a.png")}), lambda d: True)
    assert doc.url == "http://example.com/a.png"
    with pytest.raises(ValueError, match="nope"):
        docs_strategy(WithUrl, overrides={"nope": st.just(1)})


class Query(BaseDoc):
    text: str
    limit: int | None = None


class Hit(BaseDoc):
    text: str
    embedding: NdArray[3]


class Wrong(BaseDoc):
    text: str


class GoodSearch(Executor):
    @requests(on="/search")
    def search(self, docs: DocList[Query], **kwargs: Any) -> DocList[Hit]:
        return DocList[Hit]([Hit(text=d.text, embedding=np.zeros(3)) for d in docs])


class ForgetsEmbedding(Executor):
    @requests(on="/search")
    def search(self, docs: DocList[Query], **kwargs: Any) -> DocList[Hit]:
        return DocList[Wrong]([Wrong(text=d.text) for d in docs])  # type: ignore[return-value]


class ChokesOnEmptyText(Executor):
    @requests(on="/search")
    def search(self, docs: DocList[Query], **kwargs: Any) -> DocList[Query]:
        for doc in docs:
            if not doc.text:
                raise ValueError("empty text")
        return docs


def test_fuzzing_an_executor_that_honours_its_schema_passes() -> None:
    fuzz_endpoint(GoodSearch, "/search", max_examples=10)


def test_a_response_missing_a_declared_field_fails_naming_endpoint_and_schema() -> None:
    with pytest.raises(AssertionError) as info:
        fuzz_endpoint(ForgetsEmbedding, "search", max_examples=10)
    message = str(info.value)
    assert "endpoint '/search' of Executor ForgetsEmbedding" in message
    assert "declared response schema Hit" in message
    assert "embedding" in message


def test_an_executor_error_fails_with_the_shrunk_example() -> None:
    with pytest.raises(AssertionError, match="endpoint '/search' of Executor ChokesOnEmptyText") as info:
        fuzz_endpoint(ChokesOnEmptyText, "/search", max_examples=50)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "Query(" in notes and "text=''" in notes  # Hypothesis shrank the batch to one empty text


def test_a_wrong_dtype_in_the_response_is_reported() -> None:
    class Typed(BaseDoc):
        vector: Annotated[NdArray[2], TensorDtype("float32")]

    class Casts(Executor):
        @requests(on="/cast", request_schema=Query, response_schema=Typed)
        def cast(self, docs: Any, **kwargs: Any) -> Any:
            return DocList[Typed]([Typed(vector=np.zeros(2, dtype="float64")) for _ in docs])

    with pytest.raises(AssertionError, match="dtype float32, got float64"):
        fuzz_endpoint(Casts, "/cast", max_examples=5)


def test_an_unserved_endpoint_is_refused_before_fuzzing() -> None:
    with pytest.raises(ValueError, match="does not serve '/index'"):
        fuzz_endpoint(GoodSearch, "/index")


def test_a_started_deployment_is_fuzzed_and_left_running() -> None:
    with Deployment(uses=GoodSearch, quiet=True) as dep:
        fuzz_endpoint(dep, "/search", max_examples=5)
        assert dep.post("/search", DocList[Query]([Query(text="still up")]), return_type=DocList[Hit])[
            0
        ].text == ("still up")


def test_a_whole_flow_is_fuzzed_against_its_last_executors_schema() -> None:
    class Passes(Executor):
        @requests(on="/search")
        def echo(self, docs: DocList[Hit], **kwargs: Any) -> DocList[Hit]:
            return docs

    flow = Flow(quiet=True).add(uses=GoodSearch, name="search").add(uses=Passes, name="echo")
    fuzz_endpoint(flow, "/search", max_examples=5)
    broken = Flow(quiet=True).add(uses=ForgetsEmbedding, name="search").add(name="pass")
    with pytest.raises(AssertionError, match=r"endpoint '/search' of Flow 'Flow'.*schema Hit"):
        fuzz_endpoint(broken, "/search", max_examples=5)
