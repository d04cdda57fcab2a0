"""The load generator's pure parts: hop arithmetic, percentiles, specs, payloads, the SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from docarray import BaseDoc, DocList

from devkit.load import LoadSpec, parse_duration, render_latency_svg
from devkit.load.driver import Sample
from devkit.load.ledger import hops_of, percentile, summarise
from devkit.load.payloads import draw_payloads, file_payloads
from devkit.load.report import build_report
from devkit.proto import jina_pb2

MS = 1_000_000


def _route(name: str, start_ms: float, end_ms: float) -> jina_pb2.RouteProto:
    route = jina_pb2.RouteProto(executor=name)
    route.start_time.FromNanoseconds(int(1_700_000_000_000 * MS + start_ms * MS))
    route.end_time.FromNanoseconds(int(1_700_000_000_000 * MS + end_ms * MS))
    return route


def _entry(decode: float, queue: float, method: float, encode: float) -> dict[str, float]:
    parts = {"decode": decode * MS, "queue": queue * MS, "method": method * MS, "encode": encode * MS}
    return {**parts, "total": sum(parts.values())}


def _ms(hops: dict[str, tuple[str, int]]) -> dict[str, float]:
    return {name: ns / MS for name, (_, ns) in hops.items()}


def test_a_chain_splits_into_disjoint_hops_that_add_up_to_the_round_trip():
    routes = [_route("gateway", 0, 100), _route("a", 10, 40), _route("b", 40, 90)]
    entries = {"a/rep-0": _entry(1, 4, 20, 1), "b/rep-0": _entry(1, 0, 40, 1)}
    hops = hops_of(routes, entries, client_ns=112 * MS, client_codec_ns=2 * MS)
    assert _ms(hops) == {
        "client": 10.0,  # 112 round trip - 2 client decode - 100 gateway
        "gateway": 20.0,  # 100 - the 80 covered by Executor calls
        "a transport": 4.0,  # 30 call - 26 in the worker
        "a queue": 4.0,
        "a method": 20.0,
        "b transport": 8.0,
        "b queue": 0.0,
        "b method": 40.0,
        "codec": 6.0,  # 2 client + 1+1 in a + 1+1 in b
    }
    assert sum(_ms(hops).values()) == pytest.approx(112.0)
    assert {kind for kind, _ in hops.values()} == {
        "client",
        "gateway",
        "transport",
        "queue",
        "method",
        "codec",
    }


def test_an_http_front_ends_decode_moves_from_the_client_hop_to_codec():
    routes = [_route("gateway", 0, 10), _route("a", 2, 8)]
    entries = {"a/rep-0": _entry(0, 0, 6, 0), "gateway": {"decode": 3 * MS}}
    hops = _ms(hops_of(routes, entries, client_ns=20 * MS, client_codec_ns=1 * MS))
    assert (hops["client"], hops["codec"], hops["a transport"]) == (6.0, 4.0, 0.0)


def test_parallel_branches_count_their_overlap_once_for_the_gateway():
    routes = [_route("gateway", 0, 100), _route("left", 10, 60), _route("right", 20, 80)]
    hops = _ms(hops_of(routes, {}, client_ns=100 * MS, client_codec_ns=0))
    assert hops["gateway"] == 30.0  # 100 - union(10..80)
    assert (hops["left call"], hops["right call"]) == (50.0, 60.0)  # no worker timings: not split


def test_shards_report_under_their_shard_name_and_the_slowest_counts():
    routes = [_route("gateway", 0, 50), _route("index", 0, 50)]
    entries = {
        "index-0/rep-0": _entry(0, 0, 10, 0),
        "index-1/rep-0": _entry(0, 0, 30, 0),
        "indexer/rep-0": _entry(0, 0, 99, 0),
    }
    hops = _ms(hops_of(routes, entries, client_ns=50 * MS, client_codec_ns=0))
    assert hops["index method"] == 30.0
    assert hops["index transport"] == 20.0


def test_a_response_without_a_gateway_route_or_timings_is_all_client_time():
    hops = _ms(hops_of([], {}, client_ns=7 * MS, client_codec_ns=1 * MS))
    assert hops == {"client": 6.0, "codec": 1.0}


def test_a_worker_dialled_directly_splits_off_its_own_timings():
    hops = _ms(hops_of([], {"shop/rep-0": _entry(1, 2, 3, 1)}, client_ns=10 * MS, client_codec_ns=1 * MS))
    assert hops == {"client": 2.0, "shop queue": 2.0, "shop method": 3.0, "codec": 3.0}


def test_summary_rows_keep_hop_order_put_codec_last_and_count_missing_hops_as_zero():
    first = {"client": ("client", 2 * MS), "codec": ("codec", 1 * MS), "a call": ("call", 4 * MS)}
    second = {"client": ("client", 4 * MS), "codec": ("codec", 1 * MS)}
    rows = summarise([first, second], mean_latency_ms=6.0)
    assert [row.hop for row in rows] == ["client", "a call", "codec"]
    call = rows[1]
    assert (call.mean_ms, call.p50_ms, call.p99_ms) == (2.0, 0.0, 4.0)
    assert rows[0].share == pytest.approx(0.5)


@pytest.mark.parametrize(
    "fraction, expected", [(0.0, 1.0), (0.5, 50.0), (0.9, 90.0), (0.99, 99.0), (1.0, 100.0)]
)
def test_percentiles_are_nearest_rank(fraction, expected):
    assert percentile([float(i) for i in range(1, 101)], fraction) == expected


def test_percentile_of_nothing_is_zero():
    assert percentile([], 0.5) == 0.0


@pytest.mark.parametrize("text, seconds", [("30s", 30.0), ("500ms", 0.5), ("2m", 120.0), ("1.5", 1.5)])
def test_durations_read_with_their_unit(text, seconds):
    assert parse_duration(text) == seconds


def test_a_duration_without_a_number_is_refused_by_name():
    with pytest.raises(ValueError, match=r"expected a duration such as 30s.*got 'soon'"):
        parse_duration("soon")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"requests": None, "duration": None}, "needs a bound"),
        ({"concurrency": 0}, "concurrency must be >= 1"),
        ({"request_size": 0}, "request_size must be >= 1"),
        ({"duration": -1.0}, "duration must be > 0"),
    ],
)
def test_load_specs_refuse_what_cannot_run(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LoadSpec(**kwargs)


def test_an_endpoint_without_its_slash_gets_one():
    assert LoadSpec(endpoint="search").endpoint == "/search"


class Item(BaseDoc):
    title: str
    price: int = 0


def test_drawn_payloads_fit_the_schema_and_repeat_for_a_seed():
    first = draw_payloads(Item, count=5, size=3, seed=7)
    again = draw_payloads(Item, count=5, size=3, seed=7)
    assert 1 <= len(first) <= 5 and all(len(docs) == 3 for docs in first)
    assert all(isinstance(doc, Item) for docs in first for doc in docs)
    assert [[doc.title for doc in docs] for docs in first] == [[doc.title for doc in docs] for docs in again]


class Counted(BaseDoc):
    count: int


def test_drawn_payloads_the_wire_cannot_carry_are_left_out():
    payloads = draw_payloads(Counted, count=40, size=2, seed=3)
    assert payloads and all(-(2**31) <= doc.count < 2**31 for docs in payloads for doc in docs)


def test_untyped_endpoints_get_numbered_text_documents():
    payloads = draw_payloads(None, count=2, size=2, seed=0)
    assert [[doc.text for doc in docs] for docs in payloads] == [
        ["load-0-0", "load-0-1"],
        ["load-1-0", "load-1-1"],
    ]


def test_file_documents_are_validated_and_cut_into_full_requests(tmp_path):
    path = tmp_path / "docs.json"
    path.write_text('[{"title": "a"}, {"title": "b", "price": 2}, {"title": "c"}]')
    payloads = file_payloads(str(path), Item, size=2)
    assert [[doc.title for doc in docs] for docs in payloads] == [["a", "b"]]
    assert isinstance(payloads[0], DocList)
    assert [[doc.title for doc in docs] for docs in file_payloads(str(path), Item, size=1)] == [
        ["a"],
        ["b"],
        ["c"],
    ]
    wrapped = file_payloads(str(path), Item, size=5)
    assert [doc.title for doc in wrapped[0]] == ["a", "b", "c", "a", "b"]


def test_file_documents_that_do_not_fit_name_the_file_and_the_schema(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"price": 1}\n')
    with pytest.raises(ValueError, match=r"docs.jsonl: the documents do not fit .* schema Item"):
        file_payloads(str(path), Item, size=1)


def test_a_file_that_is_not_documents_says_what_it_expected(tmp_path):
    path = tmp_path / "docs.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON array of documents"):
        file_payloads(str(path), Item, size=1)


def _report(samples: list[Sample], elapsed_s: float = 2.0):
    return build_report(
        samples, int(elapsed_s * 1e9), LoadSpec(duration=elapsed_s), target="Flow 'demo'", protocol="grpc"
    )


def test_reports_count_errors_by_kind_and_percentiles_over_answered_requests():
    samples = [Sample(i * MS, (i + 1) * MS, None, {"client": ("client", MS)}) for i in range(10)]
    samples += [Sample(50 * MS, 500 * MS, "ValueError in b"), Sample(60 * MS, 1 * MS, "ValueError in b")]
    report = _report(samples)
    assert (report.requests, report.ok, report.errors) == (12, 10, 2)
    assert report.errors_by_kind == {"ValueError in b": 2}
    assert report.latency_ms["max"] == 10.0  # failed requests are not in the percentiles
    assert report.throughput == 6.0
    assert report.row("client").share == pytest.approx(1 / 5.5)
    with pytest.raises(KeyError, match="no hop 'b method' in the ledger; hops: client"):
        report.row("b method")


def test_the_latency_plot_is_well_formed_svg_and_thins_many_requests():
    samples = [
        Sample(i * 200_000, (1 + i % 7) * MS, "TimeoutError" if i % 100 == 0 else None) for i in range(10_000)
    ]
    svg = render_latency_svg(_report(samples))
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    dots = root.findall(f".//{ns}g[@class='requests']/{ns}circle")
    assert 1000 < len(dots) <= 4000
    assert {line.get("class") for line in root.iter(f"{ns}polyline")} == {"p50", "p99"}
    assert "10000 requests" in root.find(f"{ns}title").text


def test_a_plot_of_an_empty_run_is_still_a_document():
    root = ET.fromstring(render_latency_svg(_report([], elapsed_s=1.0)))
    assert root.find("{http://www.w3.org/2000/svg}title") is not None
