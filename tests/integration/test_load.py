"""devkit load against real Flows: the ledger finds an injected edge latency, errors are
counted by kind, the bounds hold, and the CLI's JSON and SVG outputs parse."""

from __future__ import annotations

import asyncio
import json
import textwrap
import xml.etree.ElementTree as ET

import pytest
from docarray import BaseDoc, DocList

from devkit import Executor, dynamic_batching, requests
from devkit.cli import main
from devkit.errors import DevkitError
from devkit.load import LoadSpec, run, write_latency_svg
from devkit.serve.hop_timing import LEDGER_KEY


class Query(BaseDoc):
    text: str = ""
    rank: int = 0


class Pass(Executor):
    @requests(on="/search")
    def search(self, docs: DocList[Query], **kwargs) -> DocList[Query]:
        return docs


class Flaky(Executor):
    """Fails every third request it sees."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = 0

    @requests(on="/search")
    def search(self, docs: DocList[Query], **kwargs) -> DocList[Query]:
        self.seen += 1
        if self.seen % 3 == 0:
            raise ValueError(f"request {self.seen} refused")
        return docs


@pytest.mark.timeout(120)
def test_the_ledger_puts_an_injected_edge_latency_on_that_hop(network, flow_factory):
    flow = network.attach(
        flow_factory().add(uses=Pass, name="embed").add(uses=Pass, name="rank").add(uses=Pass, name="store")
    )
    network.edge("gateway", "rank").latency(0.1)
    report = run(flow, LoadSpec(endpoint="/search", concurrency=4, duration=2.0, request_size=2))

    assert report.errors == 0 and report.ok >= 4
    shares = {row.hop: row.share for row in report.ledger}
    assert {"client", "gateway", "codec"} <= set(shares)
    for name in ("embed", "rank", "store"):
        assert {f"{name} transport", f"{name} queue", f"{name} method"} <= set(shares)
    ranked = sorted(shares.items(), key=lambda item: item[1], reverse=True)
    assert ranked[0][0] == "rank transport", ranked
    assert ranked[0][1] > 0.5 and ranked[0][1] > 2 * ranked[1][1], ranked  # well above every other hop


def test_errors_are_counted_by_kind_and_answered_requests_still_get_a_ledger(flow_factory):
    flow = flow_factory().add(uses=Pass, name="embed").add(uses=Flaky, name="flaky")
    report = run(flow, LoadSpec(endpoint="/search", concurrency=1, requests=9, duration=None))

    assert report.requests == 9
    assert report.errors_by_kind == {"ValueError in flaky": 3}
    assert report.ok == 6
    assert [row.hop for row in report.ledger][:2] == ["client", "gateway"]
    assert report.to_dict()["errors"] == {"total": 3, "by_kind": {"ValueError in flaky": 3}}


def test_warmup_requests_are_sent_first_and_not_counted(flow_factory):
    flow = flow_factory().add(uses=Flaky, name="flaky")  # fails its 3rd request
    report = run(flow, LoadSpec(endpoint="/search", concurrency=1, requests=2, duration=None, warmup=1))
    assert report.requests == 2
    assert report.errors_by_kind == {"ValueError in flaky": 1}  # the 2nd and 3rd were measured


def test_a_request_bound_sends_exactly_that_many(flow_factory):
    flow = flow_factory().add(uses=Pass, name="embed")
    report = run(flow, LoadSpec(endpoint="/search", concurrency=8, requests=21, duration=None))
    assert report.requests == report.ok == 21
    assert len(report.samples) == 21


def test_a_duration_bound_stops_sending_once_it_passed(flow_factory):
    flow = flow_factory().add(uses=Pass, name="embed")
    spec = LoadSpec(endpoint="/search", concurrency=2, duration=0.5)
    report = run(flow, spec)
    assert report.requests >= 1
    assert max(sample.sent_ns for sample in report.samples) < 0.5e9  # nothing sent after the bound
    assert report.elapsed_s >= 0.5  # senders kept going until it passed


def test_with_both_bounds_the_first_reached_stops_the_run(flow_factory):
    flow = flow_factory().add(uses=Pass, name="embed")
    report = run(flow, LoadSpec(endpoint="/search", concurrency=2, requests=5, duration=60.0))
    assert report.requests == 5


def test_documents_from_a_file_are_sent_as_they_are(flow_factory, tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        '{"text": "alpha", "rank": 1}\n{"text": "beta", "rank": 2}\n{"text": "gamma", "rank": 3}\n'
    )
    flow = flow_factory().add(uses=Pass, name="embed")
    report = run(
        flow, LoadSpec(endpoint="/search", requests=3, duration=None, request_size=2, docs_file=str(docs))
    )
    assert report.ok == 3
    assert report.request_size == 2


class Listing(BaseDoc):
    title: str  # required: documents without it do not validate
    price: int = 0


class Shop(Executor):
    @requests(on="/list")
    def list(self, docs: DocList[Listing], **kwargs) -> DocList[Listing]:
        return docs


def test_a_running_gateway_is_loaded_by_address(flow_factory):
    flow = flow_factory().add(uses=Pass, name="embed")
    with flow:
        report = run(f"grpc://127.0.0.1:{flow.port}", LoadSpec(endpoint="/search", requests=6, duration=None))
    assert (report.ok, report.errors_by_kind) == (6, {})
    assert report.target == f"grpc://127.0.0.1:{flow.port}"
    assert {"embed transport", "embed method"} <= {row.hop for row in report.ledger}


def test_a_running_executor_is_asked_for_the_schema_to_draw_from(deployment_factory):
    deployment = deployment_factory(uses=Shop, name="shop")
    with deployment:
        address = f"grpc://127.0.0.1:{deployment.port}"
        report = run(address, LoadSpec(endpoint="/list", requests=6, duration=None, request_size=3))
    assert (report.ok, report.errors_by_kind) == (6, {})  # documents without a title would be refused
    assert [row.hop for row in report.ledger] == ["client", "shop queue", "shop method", "codec"]


@pytest.mark.parametrize("protocol", ["http", "websocket"])
def test_http_and_websocket_gateways_give_the_same_ledger(flow_factory, protocol):
    flow = flow_factory(protocol=["grpc", protocol]).add(uses=Pass, name="embed").add(uses=Pass, name="rank")
    report = run(flow, LoadSpec(endpoint="/search", requests=8, duration=None, protocol=protocol))
    assert (report.ok, report.protocol) == (8, protocol)
    assert report.row("codec").mean_ms > 0
    assert [row.hop for row in report.ledger] == [
        "client", "gateway", "embed transport", "embed queue", "embed method",
        "rank transport", "rank queue", "rank method", "codec",
    ]  # fmt: skip


def test_workers_add_timings_only_when_asked(flow_factory):
    flow = flow_factory().add(uses=Pass, name="embed").add(uses=Pass, name="rank")
    with flow:
        plain = flow.post("/search", DocList[Query]([Query(text="a")]), return_responses=True)[0]
        asked = flow.post(
            "/search", DocList[Query]([Query(text="a")]), parameters={LEDGER_KEY: {}}, return_responses=True
        )[0]
    assert LEDGER_KEY not in plain.parameters
    assert "__results__" not in plain.parameters
    entries = asked.parameters[LEDGER_KEY]
    assert sorted(entries) == ["embed/rep-0", "rank/rep-0"]
    for entry in entries.values():
        assert set(entry) == {"decode", "queue", "method", "encode", "total"}
        parts = entry["decode"] + entry["queue"] + entry["method"] + entry["encode"]
        assert parts == pytest.approx(entry["total"])


class Batched(Executor):
    @requests(on="/search")
    @dynamic_batching(preferred_batch_size=4, timeout=50)
    def search(self, docs: DocList[Query], **kwargs) -> DocList[Query]:
        return docs


def test_dynamically_batched_requests_report_their_wait_with_the_method(flow_factory):
    flow = flow_factory().add(uses=Batched, name="batched")
    report = run(flow, LoadSpec(endpoint="/search", concurrency=4, requests=8, duration=None))
    assert report.ok == 8
    hops = {row.hop for row in report.ledger}
    assert {"batched transport", "batched queue", "batched method"} <= hops
    assert report.row("batched queue").mean_ms == 0.0  # the batch's wait is not split off


EXECUTORS = """
from docarray import BaseDoc, DocList
from devkit import Executor, dynamic_batching, requests


class LoadQuery(BaseDoc):
    text: str = ""


class LoadEcho(Executor):
    @requests(on="/echo")
    def echo(self, docs: DocList[LoadQuery], **kwargs) -> DocList[LoadQuery]:
        return docs
"""


@pytest.fixture
def flow_yml(tmp_path):
    (tmp_path / "load_cli_executors.py").write_text(EXECUTORS)
    path = tmp_path / "flow.yml"
    path.write_text(
        textwrap.dedent(
            """\
            jtype: Flow
            executors:
              - name: first
                uses: LoadEcho
                py_modules: load_cli_executors.py
              - name: second
                uses: LoadEcho
                py_modules: load_cli_executors.py
            """
        )
    )
    return path


@pytest.mark.timeout(120)
def test_cli_json_report_has_the_documented_shape_and_the_plot_parses(flow_yml, tmp_path, capsys):
    plot = tmp_path / "latency.svg"
    code = main(
        ["load", str(flow_yml), "--endpoint", "/echo", "--requests", "12", "--concurrency", "3",
         "--request-size", "2", "--runtime", "thread", "--json", "--plot", str(plot)]
    )  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {
        "target", "protocol", "endpoint", "concurrency", "request_size", "requests", "ok",
        "errors", "elapsed_s", "throughput_rps", "latency_ms", "ledger", "client_cpu",
    }  # fmt: skip
    assert report["client_cpu"] >= 0
    assert (report["requests"], report["ok"], report["errors"]) == (12, 12, {"total": 0, "by_kind": {}})
    assert (report["endpoint"], report["protocol"], report["concurrency"]) == ("/echo", "grpc", 3)
    assert set(report["latency_ms"]) == {"p50", "p90", "p99", "mean", "max"}
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["p99"] <= report["latency_ms"]["max"]
    hops = [row["hop"] for row in report["ledger"]]
    assert hops == [
        "client", "gateway", "first transport", "first queue", "first method",
        "second transport", "second queue", "second method", "codec",
    ]  # fmt: skip
    for row in report["ledger"]:
        assert set(row) == {"hop", "kind", "mean_ms", "p50_ms", "p99_ms", "share"}
        assert row["mean_ms"] >= 0 and 0 <= row["share"] <= 1

    root = ET.parse(plot).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    dots = root.findall(
        ".//{http://www.w3.org/2000/svg}g[@class='requests']/{http://www.w3.org/2000/svg}circle"
    )
    assert len(dots) == 12
    assert root.find(".//{http://www.w3.org/2000/svg}polyline[@class='p50']") is not None


def test_cli_prints_the_ledger_table_and_fails_on_errors(tmp_path, capsys):
    (tmp_path / "load_cli_flaky.py").write_text(
        EXECUTORS.replace("LoadEcho", "LoadFlaky").replace(
            "        return docs", "        raise RuntimeError('always refused')"
        )
    )
    (tmp_path / "flow.yml").write_text(
        "jtype: Flow\nexecutors:\n  - name: flaky\n    uses: LoadFlaky\n    py_modules: load_cli_flaky.py\n"
    )
    code = main(
        ["load", str(tmp_path / "flow.yml"), "--endpoint", "/echo", "--requests", "4", "--runtime", "thread"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "4 RuntimeError in flaky" in out
    assert "requests   4 in" in out


def test_the_plot_of_a_run_with_errors_marks_them(flow_factory, tmp_path):
    flow = flow_factory().add(uses=Flaky, name="flaky")
    report = run(flow, LoadSpec(endpoint="/search", concurrency=1, requests=6, duration=None))
    path = write_latency_svg(report, tmp_path / "run.svg")
    root = ET.parse(path).getroot()
    fills = [c.get("fill") for c in root.iter("{http://www.w3.org/2000/svg}circle")]
    assert fills.count("#c0392b") == 2 + 1  # two failed requests, and the legend's error dot


def test_run_works_from_inside_a_running_event_loop(flow_factory):
    flow = flow_factory().add(uses=Pass, name="embed")

    async def notebook_cell():
        return run(flow, LoadSpec(endpoint="/search", requests=3, duration=None))

    assert asyncio.run(notebook_cell()).ok == 3


@pytest.mark.parametrize(
    "arguments, expected",
    [
        (
            ["--duration", "soon"],
            "argument --duration: expected a duration such as 30s, 500ms, 2m or 10, got 'soon'",
        ),
        (["--concurrency", "0"], "argument --concurrency: expected a positive integer such as 2, got '0'"),
    ],
)
def test_cli_argument_errors_read_as_words(flow_yml, capsys, arguments, expected):
    with pytest.raises(SystemExit) as exited:
        main(["load", str(flow_yml), *arguments])
    assert exited.value.code == 2
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize("scheme", ["grpc", "http", "websocket"])
def test_a_target_that_is_not_there_fails_the_run_at_once_naming_it(free_port, scheme):
    with pytest.raises(DevkitError, match=f"127.0.0.1:{free_port}"):
        run(f"{scheme}://127.0.0.1:{free_port}", LoadSpec(requests=5, duration=None, timeout=3.0))
