"""Topology diagrams: the SVG is parsed and its nodes, edges and labels checked."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from devkit import Flow
from devkit.cli import main
from devkit.plot import MissingRendererError, NodeAnnotation, condition_label, layout, to_mermaid

SVG = "{http://www.w3.org/2000/svg}"


def _flow() -> Flow:
    return (
        Flow(name="search")
        .add(name="encoder", replicas=2)
        .add(name="indexer", shards=3, needs="encoder", when={"tags__lang": {"$eq": "en"}})
        .add(name="ranker", needs="gateway")
        .add(name="logger", needs="gateway", floating=True)
        .needs_all(name="joiner")
    )


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _nodes(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-name", ""): g for g in root.iter(f"{SVG}g") if "node" in g.get("class", "").split()}


def _edges(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {
        (g.get("data-source", ""), g.get("data-target", "")): g
        for g in root.iter(f"{SVG}g")
        if "edge" in g.get("class", "").split()
    }


def _texts(element: ET.Element) -> list[str]:
    return [t.text or "" for t in element.iter(f"{SVG}text")]


def test_every_executor_and_the_gateway_at_both_ends_are_nodes() -> None:
    nodes = _nodes(_parse(_flow().plot()))
    assert set(nodes) == {"gateway", "gateway/out", "encoder", "indexer", "ranker", "logger", "joiner"}
    assert "gateway" in nodes["gateway"].get("class", "")
    assert _texts(nodes["encoder"])[0] == "encoder"


def test_edges_follow_needs_and_the_open_ends_lead_to_the_gateway() -> None:
    edges = _edges(_parse(_flow().plot()))
    assert set(edges) == {
        ("gateway", "encoder"),
        ("encoder", "indexer"),
        ("gateway", "ranker"),
        ("gateway", "logger"),
        ("indexer", "joiner"),
        ("ranker", "joiner"),
        ("joiner", "gateway/out"),
    }


def test_a_floating_executor_is_dashed_and_off_the_response_path() -> None:
    root = _parse(_flow().plot())
    logger = _nodes(root)["logger"]
    assert "floating" in logger.get("class", "")
    assert logger.find(f"{SVG}rect[@class='card']").get("stroke-dasharray")  # type: ignore[union-attr]
    edges = _edges(root)
    assert edges[("gateway", "logger")].find(f"{SVG}path").get("stroke-dasharray")  # type: ignore[union-attr]
    assert not [edge for edge in edges if edge[0] == "logger"]


def test_a_condition_labels_the_edge_into_its_executor() -> None:
    edge = _edges(_parse(_flow().plot()))[("encoder", "indexer")]
    assert _texts(edge) == ["tags__lang = 'en'"]
    assert condition_label({"$or": [{"a": {"$gt": 1}}, {"b": {"$lte": 2}}]}) == "(a > 1 or b ≤ 2)"


def test_replicas_are_stacked_cards_and_shards_are_named() -> None:
    nodes = _nodes(_parse(_flow().plot()))
    assert len(nodes["encoder"].findall(f"{SVG}rect[@class='replica-card']")) == 1
    assert "2 replicas" in _texts(nodes["encoder"])
    assert "3 shards" in _texts(nodes["indexer"])
    assert nodes["ranker"].findall(f"{SVG}rect[@class='replica-card']") == []


def test_layers_follow_topological_depth() -> None:
    boxes = layout(_flow()).boxes
    x = {
        name: round(boxes[name].x + boxes[name].width / 2, 3)
        for name in ("gateway", "encoder", "ranker", "indexer", "joiner", "gateway/out")
    }
    assert x["gateway"] < x["encoder"] == x["ranker"] < x["indexer"] < x["joiner"] < x["gateway/out"]


def test_an_edge_that_skips_a_column_routes_through_a_waypoint() -> None:
    edges = _edges(_parse(_flow().plot()))
    long_path = edges[("ranker", "joiner")].find(f"{SVG}path").get("d", "")  # type: ignore[union-attr]
    short_path = edges[("indexer", "joiner")].find(f"{SVG}path").get("d", "")  # type: ignore[union-attr]
    assert long_path.count("C") == 2 and short_path.count("C") == 1


def test_annotations_put_figures_and_faults_on_nodes() -> None:
    annotation = NodeAnnotation(requests=120, errors=2, p50_ms=3.25, faults=["latency 200ms"])
    encoder = _nodes(_parse(_flow().plot(annotations={"encoder": annotation})))["encoder"]
    texts = _texts(encoder)
    assert "120 req · 2 err · p50 3.2 ms" in texts
    assert "fault: latency 200ms" in texts


def test_annotations_for_unknown_executors_are_refused() -> None:
    with pytest.raises(ValueError, match=r"'nobody'.*Executors: encoder"):
        _flow().plot(annotations={"nobody": NodeAnnotation(requests=1)})


def test_an_empty_flow_connects_the_gateway_to_itself() -> None:
    assert set(_edges(_parse(Flow().plot()))) == {("gateway", "gateway/out")}


def test_mermaid_lists_nodes_edges_conditions_and_floating_dashes() -> None:
    text = to_mermaid(_flow())
    assert text.startswith("flowchart LR\n")
    assert 'ex_encoder["encoder<br/>2 replicas"]:::executor' in text
    assert "ex_encoder -->|\"tags__lang = 'en'\"| ex_indexer" in text
    assert "gateway_in -.-> ex_logger" in text
    assert "ex_joiner --> gateway_out" in text
    assert _flow().to_mermaid() == text


def test_jupyter_displays_a_flow_as_its_svg() -> None:
    flow = _flow()
    bundle = flow._repr_mimebundle_()
    assert _parse(bundle["image/svg+xml"]).tag == f"{SVG}svg"
    assert flow._repr_svg_() == bundle["image/svg+xml"]
    assert "search" in bundle["text/plain"]


def test_plot_writes_svg_png_and_mermaid_files(tmp_path: Path) -> None:
    flow = _flow()
    flow.plot(tmp_path / "flow.svg")
    flow.plot(tmp_path / "flow.png")
    flow.plot(tmp_path / "flow.mmd")
    assert _parse((tmp_path / "flow.svg").read_text()).tag == f"{SVG}svg"
    assert (tmp_path / "flow.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "flow.mmd").read_text() == flow.to_mermaid()
    with pytest.raises(ValueError, match=r"\.svg, \.png or \.mmd"):
        flow.plot(tmp_path / "flow.gif")


def test_png_without_a_renderer_names_the_missing_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cairosvg", None)  # makes `import cairosvg` raise ImportError
    with pytest.raises(MissingRendererError, match="pip install cairosvg"):
        _flow().plot(tmp_path / "flow.png")
    assert not (tmp_path / "flow.png").exists()


def test_the_cli_plots_a_yaml_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "flow.yml"
    path.write_text("jtype: Flow\nexecutors:\n  - name: a\n    replicas: 2\n  - name: b\n    needs: a\n")
    assert main(["plot", str(path), str(tmp_path / "out.svg")]) == 0
    assert set(_nodes(_parse((tmp_path / "out.svg").read_text()))) == {"gateway", "gateway/out", "a", "b"}
    assert "wrote" in capsys.readouterr().out
