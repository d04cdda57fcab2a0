"""Contract checks: every edge and endpoint of a Flow, before anything starts."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pytest
from docarray import BaseDoc, DocList
from docarray.typing import NdArray

from devkit import Executor, Flow, requests
from devkit.testing.contracts import (
    ContractError,
    Incompatibility,
    assert_contracts,
    check_command,
    check_flow,
    flow_schemas,
)
from devkit.testing.contracts_schema import TensorDtype, dtype_problems


# -- schemas and Executors used below --------------------------------------------------------
class Text(BaseDoc):
    text: str
    lang: str | None = None


class Meta(BaseDoc):
    lang: str


class Chunk(BaseDoc):
    text: str


class Rich(BaseDoc):
    text: str
    meta: Meta
    chunks: DocList[Chunk] = DocList[Chunk]()
    tags: dict[str, Any] = {}


class TextReader(Executor):
    @requests(on="/index")
    def read(self, docs: DocList[Text], **kwargs: Any) -> DocList[Text]:
        return docs


def _producer(schema: type[BaseDoc], on: str | list[str] = "/index") -> type[Executor]:
    class Producer(Executor):  # explicit schemas: closure variables are invisible to string annotations
        @requests(on=on, request_schema=Text, response_schema=schema)
        def produce(self, docs: DocList[Text], **kwargs: Any) -> Any:
            return DocList[schema]()  # type: ignore[valid-type]

    return Producer


def _consumer(schema: type[BaseDoc], on: str | list[str] = "/index") -> type[Executor]:
    class Consumer(Executor):
        @requests(on=on, request_schema=schema, response_schema=schema)
        def consume(self, docs: Any, **kwargs: Any) -> Any:
            return docs

    return Consumer


def _pair(produced: type[BaseDoc], expected: type[BaseDoc]) -> Flow:
    return Flow().add(uses=_producer(produced), name="up").add(uses=_consumer(expected), name="down")


def _only(report: Any) -> Incompatibility:
    assert len(report.incompatibilities) == 1, str(report)
    return report.incompatibilities[0]


# -- fields ------------------------------------------------------------------------------------
def test_a_chain_whose_schemas_fit_has_no_incompatibility() -> None:
    report = check_flow(_pair(Text, Text))
    assert report.ok
    assert report.incompatibilities == ()
    assert report.edges == (("gateway", "up"), ("up", "down"))
    assert report.endpoints == ("/index",)


def test_a_required_field_the_upstream_lacks_is_reported_with_edge_endpoint_and_field() -> None:
    class Scored(BaseDoc):
        text: str
        score: float

    item = _only(check_flow(_pair(Text, Scored)))
    assert (item.endpoint, item.upstream, item.downstream, item.field) == ("/index", "up", "down", "score")
    assert item.kind == "missing-field"
    assert "Scored requires 'score'" in item.reason


def test_an_optional_field_the_upstream_lacks_is_fine() -> None:
    class WithDefault(BaseDoc):
        text: str
        score: float = 0.0

    assert check_flow(_pair(Text, WithDefault)).incompatibilities == ()


def test_optional_upstream_but_required_downstream_is_reported() -> None:
    class MaybeLang(BaseDoc):
        lang: str | None = None

    item = _only(check_flow(_pair(MaybeLang, Meta)))
    assert (item.field, item.kind) == ("lang", "optional")


def test_a_different_scalar_type_is_reported_but_int_into_float_is_fine() -> None:
    class IntScore(BaseDoc):
        score: int

    class FloatScore(BaseDoc):
        score: float

    class StrScore(BaseDoc):
        score: str

    assert check_flow(_pair(IntScore, FloatScore)).ok
    item = _only(check_flow(_pair(IntScore, StrScore)))
    assert (item.field, item.kind) == ("score", "type")
    assert "int" in item.reason and "str" in item.reason


def test_nested_documents_and_doclists_are_compared_field_by_field() -> None:
    class OtherMeta(BaseDoc):
        lang: int

    class OtherChunk(BaseDoc):
        body: str

    class Other(BaseDoc):
        text: str
        meta: OtherMeta
        chunks: DocList[OtherChunk] = DocList[OtherChunk]()

    report = check_flow(_pair(Other, Rich))
    fields = {(i.field, i.kind) for i in report.incompatibilities}
    assert fields == {("meta.lang", "type"), ("chunks[].text", "missing-field")}


def test_list_items_are_compared() -> None:
    class Ints(BaseDoc):
        values: list[int]

    class Strs(BaseDoc):
        values: list[str]

    assert _only(check_flow(_pair(Ints, Strs))).field == "values[]"


# -- tensors -----------------------------------------------------------------------------------
class Vec128(BaseDoc):
    embedding: NdArray[128]


class Vec256(BaseDoc):
    embedding: NdArray[256]


class VecAny(BaseDoc):
    embedding: NdArray


class VecNamed(BaseDoc):
    embedding: NdArray["rows", 128]  # noqa: F821, UP037  (a named axis, not a type)


class Vec2x128(BaseDoc):
    embedding: NdArray[2, 128]


def test_tensor_shapes_that_differ_are_reported() -> None:
    item = _only(check_flow(_pair(Vec128, Vec256)))
    assert (item.field, item.kind, item.severity) == ("embedding", "shape", "error")
    assert "(128,)" in item.reason and "(256,)" in item.reason


def test_named_axes_match_any_size_and_an_undeclared_shape_is_a_warning() -> None:
    assert check_flow(_pair(Vec2x128, VecNamed)).incompatibilities == ()
    assert _only(check_flow(_pair(Vec128, VecNamed))).kind == "shape"  # one axis, not two
    report = check_flow(_pair(VecAny, Vec128))
    assert report.ok  # warnings do not fail
    assert [(w.field, w.kind) for w in report.warnings] == [("embedding", "shape")]


def test_tensor_dtypes_declared_with_tensordtype_are_compared() -> None:
    class F32(BaseDoc):
        embedding: Annotated[NdArray[4], TensorDtype("float32")]

    class F64(BaseDoc):
        embedding: Annotated[NdArray[4], TensorDtype("float64")]

    item = _only(check_flow(_pair(F32, F64)))
    assert (item.field, item.kind) == ("embedding", "dtype")
    assert check_flow(_pair(F32, F32)).incompatibilities == ()


def test_dtype_problems_checks_documents_against_their_declared_dtypes() -> None:
    class F32(BaseDoc):
        embedding: Annotated[NdArray[4], TensorDtype("float32")]

    assert dtype_problems(F32(embedding=np.zeros(4, dtype="float32"))) == []
    assert dtype_problems(F32(embedding=np.zeros(4, dtype="int64"))) == [
        "embedding: expected a tensor of dtype float32, got int64"
    ]


# -- topology ----------------------------------------------------------------------------------
def test_every_incompatibility_is_reported_at_once() -> None:
    class Scored(BaseDoc):
        text: int
        score: float
        embedding: NdArray[3]

    flow = (
        Flow()
        .add(uses=_producer(Vec128), name="a")
        .add(uses=_consumer(Scored), name="b")
        .add(uses=_consumer(Vec256), name="c", needs="a")
    )
    report = check_flow(flow)
    found = {(i.upstream, i.downstream, i.field) for i in report.errors}
    assert found == {
        ("a", "b", "text"),
        ("a", "b", "score"),
        ("a", "b", "embedding"),
        ("a", "c", "embedding"),
    }


def test_documents_pass_unchanged_through_executors_that_do_not_serve_the_endpoint() -> None:
    flow = (
        Flow()
        .add(uses=_producer(Vec128), name="a")
        .add(uses=_consumer(Text, on="/other"), name="b")
        .add(name="pass")  # a pass-through Executor, no endpoints
        .add(uses=_consumer(Vec256), name="c")
    )
    item = _only(check_flow(flow, endpoints=["/index"]))
    assert (item.upstream, item.downstream, item.field) == ("pass", "c", "embedding")


def test_each_endpoint_is_walked_separately() -> None:
    class TwoWay(Executor):
        @requests(on="/index")
        def index(self, docs: DocList[Text], **kwargs: Any) -> DocList[Vec128]:
            return DocList[Vec128]()

        @requests(on="/search")
        def search(self, docs: DocList[Text], **kwargs: Any) -> DocList[Vec256]:
            return DocList[Vec256]()

    flow = Flow().add(uses=TwoWay, name="a").add(uses=_consumer(Vec256, on=["/index", "/search"]), name="b")
    item = _only(check_flow(flow))
    assert item.endpoint == "/index"
    assert check_flow(flow).endpoints == ("/index", "/search")


def test_the_input_schema_is_checked_against_the_first_executors() -> None:
    class Numbers(BaseDoc):
        number: int

    item = _only(check_flow(Flow().add(uses=TextReader, name="reader"), input_schema=Numbers))
    assert (item.upstream, item.downstream, item.field) == ("gateway", "reader", "text")


def test_endpoints_no_executor_serves_are_reported() -> None:
    item = _only(check_flow(Flow().add(uses=TextReader, name="reader"), endpoints=["/index", "search"]))
    assert (item.endpoint, item.kind, item.upstream, item.downstream) == (
        "/search",
        "unserved-endpoint",
        "client",
        "gateway",
    )
    assert "/index" in item.reason


def test_a_flow_of_pass_through_executors_serves_every_endpoint() -> None:
    assert check_flow(Flow().add(name="a"), endpoints=["/anything"]).ok


def test_a_default_endpoint_serves_any_endpoint() -> None:
    class Fallback(Executor):
        @requests
        def any(self, docs: DocList[Text], **kwargs: Any) -> DocList[Text]:
            return docs

    assert check_flow(Flow().add(uses=Fallback), endpoints=["/whatever"]).ok


def test_conditions_must_read_fields_of_the_schema_reaching_the_executor() -> None:
    flow = (
        Flow()
        .add(uses=_producer(Rich), name="a")
        .add(
            uses=_consumer(Text),
            name="b",
            when={
                "$or": [{"meta__lang": {"$eq": "en"}}, {"meta__missing": {"$eq": 1}}],
                "tags__any": {"$gt": 1},
            },
        )
    )
    item = _only(check_flow(flow))
    assert (item.upstream, item.downstream, item.field, item.kind) == ("a", "b", "meta__missing", "condition")
    assert "Rich" in item.reason


def test_a_condition_right_after_the_gateway_is_checked_against_the_executors_own_schema() -> None:
    flow = Flow().add(uses=TextReader, name="reader", when={"score": {"$gt": 0.5}})
    item = _only(check_flow(flow))
    assert (item.upstream, item.field, item.kind) == ("gateway", "score", "condition")


def test_external_executors_are_noted_and_not_checked() -> None:
    flow = Flow().add(uses=_producer(Vec128), name="a").add(name="remote", host="127.0.0.1:1", external=True)
    report = check_flow(flow)
    assert report.ok
    assert any("'remote' is external" in note for note in report.notes)


def test_an_executor_that_cannot_be_resolved_is_reported() -> None:
    item = _only(check_flow(Flow().add(uses="NoSuchExecutorAnywhere", name="ghost")))
    assert (item.downstream, item.kind, item.upstream) == ("ghost", "unresolved", None)


def test_flow_schemas_reports_what_a_flow_reads_and_returns() -> None:
    flow = Flow().add(uses=_producer(Vec128), name="a").add(uses=_consumer(VecNamed), name="b")
    assert flow_schemas(flow, "/index") == (Text, VecNamed)


# -- reporting and enforcement ----------------------------------------------------------------
def test_the_report_reads_well() -> None:
    text = str(check_flow(_pair(Vec128, Vec256)))
    assert "1 incompatibility, 0 warnings" in text
    assert "endpoint '/index', up -> down, field 'embedding'" in text


def test_assert_contracts_fails_with_the_report_and_hides_its_frame() -> None:
    with pytest.raises(AssertionError, match="up -> down, field 'embedding'") as info:
        assert_contracts(_pair(Vec128, Vec256))
    assert info.traceback[-1].frame.f_locals.get("__tracebackhide__") is True
    assert assert_contracts(_pair(Text, Text)).ok


def test_assert_contracts_can_refuse_warnings() -> None:
    assert_contracts(_pair(VecAny, Vec128))
    with pytest.raises(AssertionError, match="warning"):
        assert_contracts(_pair(VecAny, Vec128), allow_warnings=False)


def test_a_strict_flow_refuses_to_start_and_starts_nothing() -> None:
    flow = Flow(strict_contracts=True, quiet=True)
    flow.add(uses=_producer(Vec128), name="up").add(uses=_consumer(Vec256), name="down")
    with pytest.raises(ContractError, match="strict_contracts") as info:
        flow.start()
    assert info.value.report.errors[0].field == "embedding"
    assert flow.alive_servers == []


def _write_flow(tmp_path: Path, consumer_shape: int) -> Path:
    (tmp_path / "contract_execs.py").write_text(
        textwrap.dedent(
            f"""
            from docarray import BaseDoc, DocList
            from docarray.typing import NdArray
            from devkit import Executor, requests

            class ContractYamlOut(BaseDoc):
                embedding: NdArray[8]

            class ContractYamlIn(BaseDoc):
                embedding: NdArray[{consumer_shape}]

            class ContractYamlProducer(Executor):
                @requests(on="/index")
                def run(self, docs: DocList[ContractYamlOut], **kwargs) -> DocList[ContractYamlOut]:
                    return docs

            class ContractYamlConsumer{consumer_shape}(Executor):
                @requests(on="/index")
                def run(self, docs: DocList[ContractYamlIn], **kwargs) -> DocList[ContractYamlIn]:
                    return docs
            """
        )
    )
    path = tmp_path / "flow.yml"
    path.write_text(
        textwrap.dedent(
            f"""
            jtype: Flow
            executors:
              - name: producer
                uses: ContractYamlProducer
                py_modules: [contract_execs.py]
              - name: consumer
                uses: ContractYamlConsumer{consumer_shape}
                py_modules: [contract_execs.py]
            """
        )
    )
    return path


def test_check_command_exits_1_with_the_report_when_a_yaml_flow_does_not_fit(tmp_path: Path) -> None:
    out = io.StringIO()
    assert check_command(_write_flow(tmp_path, 16), out=out) == 1
    assert "producer -> consumer, field 'embedding'" in out.getvalue()


def test_check_command_exits_0_when_a_yaml_flow_fits(tmp_path: Path) -> None:
    out = io.StringIO()
    assert check_command(_write_flow(tmp_path, 8), out=out) == 0
    assert "0 incompatibilities" in out.getvalue()
