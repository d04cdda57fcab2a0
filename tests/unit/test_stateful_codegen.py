"""Drawn values print as the Python source that rebuilds them, imports included."""

from __future__ import annotations

import enum

import numpy as np
from docarray import BaseDoc, DocList
from docarray.typing import NdArray

from devkit.testing.stateful.codegen import Code, callable_source, closure_assignments
from devkit.testing.stateful.machine import Post


class Color(enum.Enum):
    RED = "red"


class Inner(BaseDoc):
    label: str = ""


class Rich(BaseDoc):
    title: str
    score: float = 0.0
    tags: list[str] = []
    color: Color = Color.RED
    inner: Inner | None = None
    children: DocList[Inner] = DocList[Inner]()
    embedding: NdArray[2] | None = None
    extra: dict[str, int] = {}


def _rebuilt(source: str, code: Code) -> Rich:
    namespace: dict[str, object] = {}
    exec("\n".join(code.imports()), namespace)
    return eval(source, namespace)


def test_a_document_prints_only_what_differs_from_its_defaults():
    code = Code()
    assert code.doc(Rich(title="t")) == "Rich(title='t')"
    assert code.imports() == [f"from {__name__} import Rich"]


def test_every_kind_of_field_round_trips_through_its_source():
    doc = Rich(
        title="a'b",
        score=-1.5,
        tags=["x"],
        inner=Inner(label="in"),
        children=DocList[Inner]([Inner(label="c")]),
        embedding=np.array([1.0, 2.5], dtype="float32"),
        extra={"k": 3},
    )
    code = Code()
    source = code.doc(doc)
    assert "np.array([1.0, 2.5], dtype='float32')" in source
    assert "import numpy as np" in code.imports()
    rebuilt = _rebuilt(source, code)
    assert rebuilt.title == "a'b" and rebuilt.score == -1.5 and rebuilt.tags == ["x"]
    assert rebuilt.inner is not None and rebuilt.inner.label == "in"
    assert rebuilt.children.label == ["c"]
    assert rebuilt.embedding is not None and rebuilt.embedding.tolist() == [1.0, 2.5]
    assert rebuilt.extra == {"k": 3}


def test_an_enum_value_other_than_the_default_prints_as_its_member():
    class Shade(enum.Enum):
        DARK = 1
        LIGHT = 2

    class Painted(BaseDoc):
        shade: Shade = Shade.DARK

    assert Code().doc(Painted(shade=Shade.LIGHT)).endswith("(shade=Shade.LIGHT)")


def test_a_post_step_prints_as_the_call_that_makes_it():
    step = Post("/index", [Inner(label="a"), Inner()], request_size=1)
    assert repr(step) == "Post('/index', [Inner(label='a'), Inner()], request_size=1)"


def make_flow():
    return None


def test_a_named_factory_is_imported_and_a_lambda_is_printed_as_its_text():
    code = Code()
    assert callable_source(make_flow, code) == "make_flow"
    assert code.imports() == [f"from {__name__} import make_flow"]
    factory = lambda: make_flow()  # noqa: E731
    assert callable_source(factory, Code()) == "lambda: make_flow()"


def test_what_a_lambda_factory_reads_from_its_function_is_assigned_before_it():
    def build(protocol: str, executor: type, stream: object):
        return lambda: (protocol, executor, stream)

    code = Code()
    factory = build("http", Inner, object())
    assert callable_source(factory, code) == "lambda: (protocol, executor, stream)"
    assert closure_assignments(factory, code) == ["executor = Inner", "protocol = 'http'"]
    assert code.notes == ["the Flow factory reads 'stream' from its enclosing function: define it"]


def test_a_factory_among_several_lambdas_on_a_line_is_told_apart():
    first, second = (lambda: [1]), (lambda: [2])
    assert callable_source(first, Code()) == "lambda: [1]"
    assert callable_source(second, Code()) == "lambda: [2]"


def test_a_lambda_over_several_lines_prints_as_written():
    factory = lambda: make_flow(  # noqa: E731
        # a comment
    )
    text = callable_source(factory, Code())
    assert text.startswith("lambda: make_flow(  # noqa: E731\n") and text.endswith(")")
    compile(f"FlowDriver({text}, endpoints=['/'])", "<printed>", "eval")  # valid inside the call


def test_a_lambda_without_source_is_named_and_noted():
    code = Code()
    factory = eval("lambda: None")
    assert callable_source(factory, code) == "flow_factory"
    assert code.notes == ["the Flow factory is a lambda whose source was not found: define flow_factory"]
