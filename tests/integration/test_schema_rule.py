"""One compatibility rule: ``check_flow`` and the gateway at start agree on every edge.

A producer may return more than its consumer reads; it must give every field the consumer
requires, in a type the consumer accepts. Each case builds the same two-Executor Flow, asks
``check_flow`` and then starts it (the gateway applies the rule to the schemas the Executors
publish); both verdicts must match the table, and a Flow that starts serves a document.
"""

from typing import Optional

import pytest
from docarray import BaseDoc, DocList
from docarray.base_doc import AnyDoc

from devkit import ConfigError, Executor, Flow, requests
from devkit.testing.contracts import check_flow
from devkit.testing.leaks import leaked_since, snapshot


class Text(BaseDoc):
    text: str = "hello"


class TextWithEmbedding(Text):
    embedding: list[float] = [0.5, 0.5]


class TextWithTags(BaseDoc):
    text: str = ""
    tags: dict[str, str] = {}


class NeedsLabel(BaseDoc):
    text: str = ""
    label: str


class CountAsText(BaseDoc):
    count: str = "three"


class Count(BaseDoc):
    count: int = 0


class MaybeText(BaseDoc):
    text: Optional[str] = None  # noqa: UP045  # as users write it


class RequiredText(BaseDoc):
    text: str


class IntScore(BaseDoc):
    score: int = 3


class FloatScore(BaseDoc):
    score: float = 0.0


class Wrapped(BaseDoc):
    inner: TextWithEmbedding = TextWithEmbedding()


class WrappedText(BaseDoc):
    inner: Text = Text()


class WrappedCount(BaseDoc):
    inner: CountAsText = CountAsText()


class WrappedInt(BaseDoc):
    inner: Count = Count()


class WordList(BaseDoc):
    words: list[str] = ["a"]


class NumberList(BaseDoc):
    words: list[int] = []


class Chunked(BaseDoc):
    chunks: DocList[TextWithEmbedding] = DocList[TextWithEmbedding]([TextWithEmbedding()])


class ChunkedText(BaseDoc):
    chunks: DocList[Text] = DocList[Text]()


def pipeline(produced: type[BaseDoc], expected: type[BaseDoc]) -> Flow:
    class Producer(Executor):
        @requests
        def produce(self, docs: DocList[produced], **kwargs) -> DocList[produced]:
            return docs

    class Consumer(Executor):
        @requests
        def consume(self, docs: DocList[expected], **kwargs) -> DocList[expected]:
            return docs

    return Flow(quiet=True).add(uses=Producer, name="producer").add(uses=Consumer, name="consumer")


CASES = [
    pytest.param(Text, Text, True, id="same-schema"),
    pytest.param(TextWithEmbedding, Text, True, id="producer-superset"),
    pytest.param(Text, TextWithTags, True, id="consumer-default-fills-a-missing-field"),
    pytest.param(Text, NeedsLabel, False, id="required-field-missing"),
    pytest.param(CountAsText, Count, False, id="type-conflict"),
    pytest.param(MaybeText, RequiredText, False, id="optional-into-required"),
    pytest.param(IntScore, FloatScore, True, id="int-into-float"),
    pytest.param(Wrapped, WrappedText, True, id="nested-superset"),
    pytest.param(WrappedCount, WrappedInt, False, id="nested-type-conflict"),
    pytest.param(WordList, NumberList, False, id="list-item-conflict"),
    pytest.param(Chunked, ChunkedText, True, id="doclist-field-superset"),
    pytest.param(Text, AnyDoc, True, id="untyped-consumer"),
]


@pytest.mark.parametrize("produced, expected, fits", CASES)
def test_check_flow_and_the_gateway_apply_one_rule(produced, expected, fits):
    flow = pipeline(produced, expected)
    report = check_flow(flow)
    assert report.ok is fits, str(report)

    before = snapshot()
    if fits:
        with flow:
            answer = flow.post("/", produced(), return_type=DocList[AnyDoc])
        assert len(answer) == 1
    else:
        with pytest.raises(ConfigError, match=r"'producer' returns .* but 'consumer' expects"), flow:
            pass
    assert leaked_since(before) == []
