"""A failing test's report shows the span tree of its last request ("devkit trace" section).

Run the way pytest tests its plugins: pytest in-process on generated test files.
"""

from __future__ import annotations

import pytest

from devkit.testing.spans import Span, Spans

pytest_plugins = ["pytester"]

EXECUTORS = """
from docarray import BaseDoc, DocList
from devkit import Executor, requests

class TextDoc(BaseDoc):
    text: str = ''

class Upper(Executor):
    @requests
    def upper(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper()

class Fails(Executor):
    @requests(on='/index')
    def index(self, docs: DocList[TextDoc], **kwargs) -> None:
        raise ValueError('bad input')

    @requests(on='/fine')
    def fine(self, docs: DocList[TextDoc], **kwargs) -> None:
        pass
"""

CALL = "/jina.JinaRPC/Call"
HOP = "/jina.JinaSingleDataRequestRPC/process_single_data"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(executors=EXECUTORS)
    pytester.syspathinsert()
    return pytester


def _section(output: str) -> str:
    """The text of the "devkit trace" sections, up to the next section or test."""
    lines = output.splitlines()
    found: list[str] = []
    inside = False
    for line in lines:
        if line.startswith(("---", "___", "===")):
            inside = " devkit trace " in line
            continue
        if inside:
            found.append(line)
    return "\n".join(found)


@pytest.mark.timeout(120)
def test_a_failing_test_with_spans_reports_the_tree_of_its_last_request(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_fails="""
        from executors import Fails, TextDoc, Upper

        def test_fails(flow_factory, spans):
            flow = flow_factory(tracing=True).add(uses=Upper, name='upper').add(uses=Fails, name='fails')
            with flow:
                flow.post('/fine', TextDoc(text='first'))
                flow.post('/index', TextDoc(text='second'))
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- devkit topology -*",
            "*- devkit trace -*",
            "last request's trace * (8 spans, 5 with an error; 2 traces in the test):",
            f"{CALL} [[]client[]] CLIENT -> Flow/gateway * ms ERROR ValueError('bad input') (Executor fails)",
            f"  {CALL} [[]Flow/gateway[]] SERVER * ms ERROR ValueError('bad input') (Executor fails)",
            f"    {HOP} [[]Flow/gateway[]] CLIENT -> upper/rep-0 * ms",
            f"      {HOP} [[]upper/rep-0[]] SERVER * ms",
            "        /index [[]upper/rep-0[]] INTERNAL * ms",
            f"    {HOP} [[]Flow/gateway[]] CLIENT -> fails/rep-0 * ms ERROR ValueError('bad input') (Executor fails)",
            f"      {HOP} [[]fails/rep-0[]] SERVER * ms ERROR ValueError('bad input') (Executor fails)",
            "        /index [[]fails/rep-0[]] INTERNAL * ms ERROR ValueError: bad input (Executor fails)",
        ]
    )
    section = _section(result.stdout.str())
    assert "/fine" not in section, "the section shows the first request, not the last:\n" + section


@pytest.mark.timeout(120)
def test_devkit_trace_traces_the_factories_and_names_the_hop_a_fault_broke(
    project: pytest.Pytester,
) -> None:
    """No ``spans`` fixture and no ``tracing=True``: ``--devkit-trace`` turns both on."""
    project.makepyfile(
        test_fault="""
        import grpc
        from executors import TextDoc, Upper

        def test_fault(flow_factory, network):
            flow = network.attach(flow_factory().add(uses=Upper, name='first').add(uses=Upper, name='second'))
            network.edge('gateway', 'second', layer='grpc').fail(grpc.StatusCode.UNAVAILABLE)
            with flow:
                flow.post('/', TextDoc(text='hi'))
        """
    )
    result = project.runpytest("-p", "no:cacheprovider", "--devkit-trace")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- devkit trace -*",
            "last request's trace * (*; 1 trace in the test):",
            f"{CALL} [[]client[]] CLIENT -> Flow/gateway * ms ERROR *Executor 'second' could not be reached*",
            f"    {HOP} [[]Flow/gateway[]] CLIENT -> first/rep-0 * ms",
            f"      {HOP} [[]first/rep-0[]] SERVER * ms",
            # the hop never reached its Executor: the gateway's span names it and the injected error
            f"    {HOP} [[]Flow/gateway[]] CLIENT -> second * ms "
            "ERROR UNAVAILABLE: UNAVAILABLE injected by the fake network",
        ]
    )


@pytest.mark.timeout(120)
def test_the_trace_section_is_opt_in_per_test_by_marker(project: pytest.Pytester) -> None:
    """Without spans, the option or the marker nothing is traced (tracing changes the hops)."""
    project.makepyfile(
        test_marked="""
        import pytest
        from executors import Fails, TextDoc

        @pytest.mark.devkit_trace
        @pytest.mark.devkit_runtimes('process')
        def test_marked(deployment_factory, client_factory):
            with deployment_factory(Fails, name='fails') as deployment:
                client_factory(deployment).post('/index', TextDoc(text='x'))

        def test_unmarked(deployment_factory, client_factory):
            with deployment_factory(Fails, name='fails') as deployment:
                client_factory(deployment).post('/index', TextDoc(text='x'))
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_marked?process? _*",
            "*- devkit trace -*",
            "last request's trace * (3 spans, 3 with an error; 1 trace in the test):",
            f"{CALL} [[]client[]] CLIENT -> fails/rep-0 * ms ERROR ValueError('bad input') (Executor fails)",
            f"  {CALL} [[]fails/rep-0[]] SERVER * ms ERROR ValueError('bad input') (Executor fails)",
            "    /index [[]fails/rep-0[]] INTERNAL * ms ERROR ValueError: bad input (Executor fails)",
            "*_ test_unmarked _*",
        ]
    )
    assert result.stdout.str().count("- devkit trace -") == 1, result.stdout.str()


@pytest.mark.timeout(120)
def test_the_report_sends_the_clients_spans_itself_rather_than_waiting_for_their_export(
    project: pytest.Pytester,
) -> None:
    """The client's span is the trace's root and the client is closed only after the report:
    the report flushes it, whatever the batch processor's schedule (here: 10 minutes)."""
    project.makepyfile(
        test_slow_export="""
        from executors import Fails, TextDoc

        def test_fails(spans, monkeypatch, deployment_factory, client_factory):
            monkeypatch.setenv('OTEL_BSP_SCHEDULE_DELAY', '600000')
            with deployment_factory(Fails, name='fails', tracing=True) as deployment:
                client_factory(deployment, tracing=True).post('/index', TextDoc(text='x'))
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- devkit trace -*",
            "last request's trace * (3 spans, 3 with an error; 1 trace in the test):",
            f"{CALL} [[]client[]] CLIENT -> fails/rep-0 * ms ERROR ValueError('bad input') (Executor fails)",
            f"  {CALL} [[]fails/rep-0[]] SERVER * ms ERROR ValueError('bad input') (Executor fails)",
        ]
    )
    assert "still missing" not in result.stdout.str(), result.stdout.str()


@pytest.mark.timeout(120)
def test_the_report_shows_the_http_and_websocket_gateways_request_spans(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_protocols="""
        import pytest
        from executors import Fails, TextDoc

        @pytest.mark.devkit_trace
        @pytest.mark.devkit_protocols('http', 'websocket')
        def test_fails(flow_factory, client_factory):
            with flow_factory().add(uses=Fails, name='fails') as flow:
                client_factory(flow).post('/index', TextDoc(text='x'))
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    for name in ("POST /post", "WS /"):
        result.stdout.fnmatch_lines(
            [
                "*- devkit trace -*",
                "last request's trace * (5 spans, 5 with an error; 1 trace in the test):",
                f"{name} [[]client[]] CLIENT -> Flow/gateway * ms ERROR ValueError('bad input') (Executor fails)",
                f"  {name} [[]Flow/gateway[]] SERVER * ms ERROR ValueError('bad input') (Executor fails)",
                f"    {HOP} [[]Flow/gateway[]] CLIENT -> fails/rep-0 * ms ERROR ValueError('bad input') (Executor fails)",
                f"      {HOP} [[]fails/rep-0[]] SERVER * ms ERROR ValueError('bad input') (Executor fails)",
                "        /index [[]fails/rep-0[]] INTERNAL * ms ERROR ValueError: bad input (Executor fails)",
            ]
        )
    assert "still missing" not in result.stdout.str(), result.stdout.str()


def _span(name: str, span_id: str, parent: str | None, start: int, trace: str = "t1", **more: object) -> Span:
    fields: dict = {"service": "svc", "kind": "INTERNAL", "error": False, "status_message": ""}
    fields.update(more)
    return Span(
        name=name,
        trace_id=trace,
        span_id=span_id,
        parent_id=parent,
        start_ns=start,
        end_ns=start + 1_000_000,
        **fields,
    )


def test_the_last_trace_is_the_one_whose_request_started_last_and_complete_waits_for_parents() -> None:
    spans = Spans()
    spans.add([_span("early", "a", None, 10, trace="t1"), _span("late-child", "c", "b", 30, trace="t2")])
    assert spans.trace_ids() == ["t1", "t2"]
    assert spans.last_trace_id() == "t2"
    assert spans.complete("t1") and not spans.complete("t2"), "t2's root has not arrived yet"
    spans.add([_span("late-root", "b", None, 20, trace="t2")])
    assert spans.complete("t2")
    assert Spans().last_trace_id() is None


def test_a_call_that_was_answered_waits_for_its_servers_span_and_a_failed_one_does_not() -> None:
    answered = Spans()
    answered.add([_span("call", "a", None, 10, kind="CLIENT")])
    assert not answered.complete("t1"), "the server's span (another process) is still in flight"
    answered.add([_span("served", "b", "a", 11, kind="SERVER")])
    assert answered.complete("t1")
    in_band = Spans()
    in_band.add(
        [_span("call", "a", None, 10, kind="CLIENT", error=True, attributes={"jina.executor": "fails"})]
    )
    assert not in_band.complete("t1"), "an error the Executor answered with: its span will come"
    failed = Spans()
    failed.add([_span("call", "a", None, 10, kind="CLIENT", error=True, status_message="UNAVAILABLE")])
    assert failed.complete("t1"), "a call that never reached its server has no server span to wait for"


def test_the_tree_keeps_an_error_on_one_line_and_names_the_peer_of_an_unanswered_call() -> None:
    spans = Spans()
    spans.add(
        [
            _span(
                "call",
                "a",
                None,
                10,
                kind="CLIENT",
                error=True,
                status_message="AioRpcError: <AioRpcError of RPC that terminated with:\n\tstatus = "
                'StatusCode.DEADLINE_EXCEEDED\n\tdetails = "Deadline Exceeded"\n>',
                attributes={"peer.service": "slow"},
            ),
            _span("other", "b", None, 20, error=True, status_message="ValueError:\n  bad\n  input"),
        ]
    )
    assert spans.tree().splitlines() == [
        "call [svc] CLIENT -> slow 1.0 ms ERROR DEADLINE_EXCEEDED: Deadline Exceeded",
        "other [svc] INTERNAL 1.0 ms ERROR ValueError: bad input",
    ]


@pytest.mark.timeout(120)
def test_the_spans_receiver_is_no_leak_whichever_fixture_comes_first(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_order="""
        from executors import TextDoc, Upper

        def test_spans_first(spans, flow_factory):
            with flow_factory(tracing=True).add(uses=Upper, name='upper') as flow:
                flow.post('/', TextDoc(text='a'))
            spans.wait_for_named('/')

        def test_spans_last(flow_factory, spans):
            with flow_factory(tracing=True).add(uses=Upper, name='upper') as flow:
                flow.post('/', TextDoc(text='a'))
            spans.wait_for_named('/')
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
