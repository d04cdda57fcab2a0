"""Topology diagrams of a Flow: SVG (and PNG), Mermaid, and Jupyter display, all offline.

The layout is a small layered one computed in pure Python: the gateway on the left, each
Executor in the column of its topological depth (one more than the deepest Executor it
needs), the gateway again on the right where responses leave. Edges that skip columns pass
through invisible waypoints so they route around nodes rather than through them. Replicas
and shards show as stacked cards and a detail line; floating Executors are dashed and not
connected to the response path; ``when`` conditions label the edge into their Executor.
"""

from __future__ import annotations

import itertools
import os
import pathlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any, TextIO

from devkit.errors import DevkitError
from devkit.spec.flow import GATEWAY, FlowExecutorSpec, FlowSpec
from devkit.spec.topology import resolve_flow

if TYPE_CHECKING:
    from devkit.orchestrate.flow import Flow

__all__ = [
    "Diagram",
    "MissingRendererError",
    "NodeAnnotation",
    "condition_label",
    "layout",
    "plot_command",
    "plot_flow",
    "render_svg",
    "to_mermaid",
]

GATEWAY_IN = "gateway"
GATEWAY_OUT = "gateway/out"

_FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
_TITLE_SIZE = 13
_DETAIL_SIZE = 11
_CHAR = 0.62  # average glyph width as a fraction of the font size (DejaVu Sans is wide)
_PAD_X, _PAD_Y = 14, 9
_ROW_GAP, _MIN_COL_GAP = 26, 70
_MARGIN = 24
_DUMMY_HEIGHT = 8
_COLOURS = {
    "gateway": ("#27364f", "#27364f", "#ffffff"),  # fill, stroke, text
    "executor": ("#eef3fb", "#4a6fa5", "#1d2a3a"),
    "external": ("#f6f1e7", "#a5814a", "#3a2d1d"),
    "floating": ("#ffffff", "#7b8794", "#3e4a57"),
}


class MissingRendererError(DevkitError, ImportError):
    """Writing this image format needs a package that is not installed."""


@dataclass(frozen=True)
class NodeAnnotation:
    """Figures drawn on an Executor's node, for instance from a test or a load run."""

    requests: int | None = None
    errors: int | None = None
    p50_ms: float | None = None
    faults: Sequence[str] = ()

    def lines(self) -> list[tuple[str, str]]:
        """``(text, css class)`` lines to draw, in order."""
        figures = []
        if self.requests is not None:
            figures.append(f"{self.requests} req")
        if self.errors is not None:
            figures.append(f"{self.errors} err")
        if self.p50_ms is not None:
            figures.append(f"p50 {self.p50_ms:.1f} ms")
        lines = [(" · ".join(figures), "figures-error" if self.errors else "figures")] if figures else []
        lines.extend((f"fault: {fault}", "fault") for fault in self.faults)
        return lines


@dataclass
class _Box:
    key: str
    title: str
    kind: str  # gateway | executor | external | floating | dummy
    layer: int
    details: list[tuple[str, str]] = field(default_factory=list)
    stack: int = 1  # cards drawn (replicas, at most 3)
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0

    @property
    def is_dummy(self) -> bool:
        return self.kind == "dummy"


@dataclass(frozen=True)
class _Edge:
    source: str
    target: str
    label: str = ""
    dashed: bool = False


@dataclass
class Diagram:
    """A laid-out topology: boxes with positions, and edges as lists of waypoints."""

    title: str
    boxes: dict[str, _Box]
    edges: list[tuple[_Edge, list[str]]]  # the edge, then the box keys it passes (ends included)
    width: float
    height: float


def _text_width(text: str, size: int) -> float:
    return len(text) * size * _CHAR


def _spec_of(flow: Flow | FlowSpec) -> FlowSpec:
    return flow if isinstance(flow, FlowSpec) else flow.spec


def condition_label(when: Mapping[str, Any] | None, limit: int = 42) -> str:
    """A short reading of a docarray filter: ``{'tags__x': {'$gt': 1}}`` -> ``tags__x > 1``."""
    if not when:
        return ""
    text = _condition_text(when)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_OPERATORS = {"$eq": "=", "$neq": "≠", "$gt": ">", "$gte": "≥", "$lt": "<", "$lte": "≤"}


def _condition_text(when: Mapping[str, Any]) -> str:
    parts = []
    for key, value in when.items():
        if key in ("$and", "$or") and isinstance(value, list):
            joined = f" {key[1:]} ".join(_condition_text(v) for v in value if isinstance(v, Mapping))
            parts.append(f"({joined})" if len(value) > 1 else joined)
        elif key == "$not" and isinstance(value, Mapping):
            parts.append(f"not ({_condition_text(value)})")
        elif isinstance(value, Mapping):
            for op, operand in value.items():
                symbol = _OPERATORS.get(op, op.lstrip("$"))
                parts.append(
                    f"{key} {symbol} {operand!r}" if isinstance(operand, str) else f"{key} {symbol} {operand}"
                )
        else:
            parts.append(f"{key} = {value!r}")
    return " and ".join(parts)


# -- layout ----------------------------------------------------------------------------------
def _executor_box(executor: FlowExecutorSpec, layer: int, annotation: NodeAnnotation | None) -> _Box:
    deployment = executor.deployment
    facts = []
    if deployment.replicas > 1:
        facts.append(f"{deployment.replicas} replicas")
    if deployment.shards > 1:
        facts.append(f"{deployment.shards} shards")
    if executor.external:
        facts.append("external")
    if executor.floating:
        facts.append("floating")
    uses = deployment.executor.uses
    uses_name = uses.__name__ if isinstance(uses, type) else (str(uses).rsplit("/", 1)[-1] if uses else "")
    details: list[tuple[str, str]] = []
    if uses_name and uses_name != executor.name:
        details.append((uses_name, "uses"))
    if facts:
        details.append((" · ".join(facts), "facts"))
    if annotation is not None:
        details.extend(annotation.lines())
    kind = "floating" if executor.floating else "external" if executor.external else "executor"
    return _Box(executor.name, executor.name, kind, layer, details, stack=min(deployment.replicas, 3))


def _depths(spec: FlowSpec) -> dict[str, int]:
    return resolve_flow(spec).depths()


def _logical_edges(spec: FlowSpec) -> list[_Edge]:
    edges = []
    for executor in spec.executors:
        label = condition_label(executor.when)
        for need in executor.needs:
            edges.append(
                _Edge(GATEWAY_IN if need == GATEWAY else need, executor.name, label, executor.floating)
            )
    ends = resolve_flow(spec).open_ends
    for end in ends:
        edges.append(_Edge(end, GATEWAY_OUT))
    if not ends:
        edges.append(_Edge(GATEWAY_IN, GATEWAY_OUT))
    return edges


def _route(boxes: dict[str, _Box], edges: list[_Edge]) -> list[tuple[_Edge, list[str]]]:
    """Give each edge that skips columns one invisible waypoint box per column it crosses."""
    routed = []
    for edge in edges:
        chain = [edge.source]
        for layer in range(boxes[edge.source].layer + 1, boxes[edge.target].layer):
            key = f"~{edge.source}~{edge.target}~{layer}"
            boxes[key] = _Box(key, "", "dummy", layer, height=_DUMMY_HEIGHT)
            chain.append(key)
        chain.append(edge.target)
        routed.append((edge, chain))
    return routed


def _order_layers(boxes: dict[str, _Box], routed: list[tuple[_Edge, list[str]]]) -> list[list[_Box]]:
    """Columns of boxes, each ordered by the mean position of its predecessors (barycenter)."""
    count = max(box.layer for box in boxes.values()) + 1
    layers: list[list[_Box]] = [[] for _ in range(count)]
    for box in boxes.values():
        layers[box.layer].append(box)
    preds: dict[str, list[str]] = {}
    for _, chain in routed:
        for a, b in itertools.pairwise(chain):
            preds.setdefault(b, []).append(a)
    position = {box.key: i for i, box in enumerate(layers[0])}
    for column in layers[1:]:
        insertion = {box.key: i for i, box in enumerate(column)}
        column.sort(key=lambda box: (_barycenter(preds.get(box.key, []), position), insertion[box.key]))
        position.update({box.key: i for i, box in enumerate(column)})
    return layers


def _barycenter(preds: list[str], position: dict[str, int]) -> float:
    known = [position[p] for p in preds if p in position]
    return sum(known) / len(known) if known else float("inf")


def _size(box: _Box) -> None:
    if box.is_dummy:
        box.width = 0.0
        return
    widths = [_text_width(box.title, _TITLE_SIZE)] + [_text_width(t, _DETAIL_SIZE) for t, _ in box.details]
    box.width = max(96.0, max(widths) + 2 * _PAD_X)
    box.height = 2 * _PAD_Y + _TITLE_SIZE + 4 + len(box.details) * (_DETAIL_SIZE + 5)


def layout(flow: Flow | FlowSpec, annotations: Mapping[str, NodeAnnotation] | None = None) -> Diagram:
    """Place every node and route every edge; pure Python, no renderer needed."""
    spec = _spec_of(flow)
    depth = _depths(spec)
    annotations = annotations or {}
    unknown = sorted(set(annotations) - {e.name for e in spec.executors})
    if unknown:
        raise ValueError(
            f"annotations name {', '.join(map(repr, unknown))}, which is not an Executor of Flow {spec.name!r} "
            f"(Executors: {', '.join(e.name for e in spec.executors) or 'none'})"
        )
    last = max(depth.values()) + 1
    boxes: dict[str, _Box] = {
        GATEWAY_IN: _Box(GATEWAY_IN, "gateway", "gateway", 0, [(spec.gateway.protocol, "facts")]),
        GATEWAY_OUT: _Box(GATEWAY_OUT, "gateway", "gateway", last, [("response", "facts")]),
    }
    for executor in spec.executors:
        boxes[executor.name] = _executor_box(executor, depth[executor.name], annotations.get(executor.name))
    routed = _route(boxes, _logical_edges(spec))
    layers = _order_layers(boxes, routed)
    for box in boxes.values():
        _size(box)
    label_room = {  # columns widen so that condition labels fit between them
        boxes[edge.target].layer: _text_width(edge.label, _DETAIL_SIZE) + 24
        for edge, _ in routed
        if edge.label
    }
    heights = [sum(b.height for b in column) + _ROW_GAP * (len(column) - 1) for column in layers]
    total_height = max(heights)
    x = float(_MARGIN)
    top = _MARGIN + 22.0  # room for the title
    for index, column in enumerate(layers):
        if index:
            x += max(_MIN_COL_GAP, label_room.get(index, 0.0))
        column_width = max(b.width for b in column)
        y = top + (total_height - heights[index]) / 2
        for box in column:
            box.x = x + (column_width - box.width) / 2
            box.y = y
            y += box.height + _ROW_GAP
        x += column_width
    return Diagram(
        title=spec.name if spec.name == "Flow" else f"Flow {spec.name}",
        boxes=boxes,
        edges=routed,
        width=x + _MARGIN + 8,
        height=top + total_height + _MARGIN + 8,
    )


# -- SVG -------------------------------------------------------------------------------------
def _svg_box(box: _Box) -> list[str]:
    fill, stroke, ink = _COLOURS[box.kind]
    radius = box.height / 2 if box.kind == "gateway" else 7
    dash = ' stroke-dasharray="6 4"' if box.kind == "floating" else ""
    classes = f"node {box.kind}"
    out = [
        f'<g class="{classes}" id="node-{escape(box.key, quote=True)}" data-name="{escape(box.key, quote=True)}">'
    ]
    for offset in range(box.stack - 1, 0, -1):  # replica cards behind the front one
        out.append(
            f'<rect class="replica-card" x="{box.x + 4 * offset:.1f}" y="{box.y + 4 * offset:.1f}" '
            f'width="{box.width:.1f}" height="{box.height:.1f}" rx="{radius:.1f}" fill="{fill}" '
            f'stroke="{stroke}" stroke-opacity="0.55" stroke-width="1.2"{dash}/>'
        )
    out.append(
        f'<rect class="card" x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" '
        f'rx="{radius:.1f}" fill="{fill}" stroke="{stroke}" stroke-width="1.6"{dash}/>'
    )
    cx = box.x + box.width / 2
    baseline = box.y + _PAD_Y + _TITLE_SIZE
    out.append(
        f'<text class="title" x="{cx:.1f}" y="{baseline:.1f}" text-anchor="middle" font-size="{_TITLE_SIZE}" '
        f'font-weight="bold" fill="{ink}">{escape(box.title)}</text>'
    )
    for text, css in box.details:
        baseline += _DETAIL_SIZE + 5
        colour = {"fault": "#c0392b", "figures-error": "#c0392b"}.get(css, ink)
        opacity = "0.75" if css in ("uses", "facts") else "1"
        out.append(
            f'<text class="{css}" x="{cx:.1f}" y="{baseline:.1f}" text-anchor="middle" font-size="{_DETAIL_SIZE}" '
            f'fill="{colour}" fill-opacity="{opacity}">{escape(text)}</text>'
        )
    out.append("</g>")
    return out


def _anchor(box: _Box, side: str) -> tuple[float, float]:
    cy = box.y + box.height / 2
    if box.is_dummy:
        return box.x, cy
    return (box.x + box.width, cy) if side == "out" else (box.x - 2, cy)


def _path(boxes: dict[str, _Box], chain: list[str]) -> tuple[str, tuple[float, float, float, float]]:
    """A smooth path through the chain, and the last segment (for the label)."""
    points = []
    for index, key in enumerate(chain):
        box = boxes[key]
        if box.is_dummy:
            points.append(_anchor(box, "in"))
        else:
            points.append(_anchor(box, "out" if index == 0 else "in"))
    d = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
    segment = (points[0][0], points[0][1], points[-1][0], points[-1][1])
    for (x1, y1), (x2, y2) in itertools.pairwise(points):
        bend = (x2 - x1) / 2
        d += f" C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        segment = (x1, y1, x2, y2)
    return d, segment


def _svg_edge(boxes: dict[str, _Box], edge: _Edge, chain: list[str]) -> list[str]:
    d, (x1, y1, x2, y2) = _path(boxes, chain)
    dash = ' stroke-dasharray="6 4"' if edge.dashed else ""
    kind = "edge floating" if edge.dashed else "edge"
    out = [
        f'<g class="{kind}" data-source="{escape(edge.source, quote=True)}" '
        f'data-target="{escape(edge.target, quote=True)}">',
        f'<path d="{d}" fill="none" stroke="#5b6b7f" stroke-width="1.5"{dash} marker-end="url(#arrow)"/>',
    ]
    if edge.label:
        width = _text_width(edge.label, _DETAIL_SIZE) + 10
        lx, ly = (x1 + x2) / 2, (y1 + y2) / 2
        out.append(
            f'<rect x="{lx - width / 2:.1f}" y="{ly - 9:.1f}" width="{width:.1f}" height="17" rx="4" '
            'fill="#fff8e1" stroke="#d9b44a" stroke-width="0.8"/>'
        )
        out.append(
            f'<text class="edge-label" x="{lx:.1f}" y="{ly + 4:.1f}" text-anchor="middle" '
            f'font-size="{_DETAIL_SIZE}" fill="#5a4500">{escape(edge.label)}</text>'
        )
    out.append("</g>")
    return out


def render_svg(flow: Flow | FlowSpec, annotations: Mapping[str, NodeAnnotation] | None = None) -> str:
    """The Flow's topology as a standalone SVG document."""
    diagram = layout(flow, annotations)
    width, height = diagram.width, diagram.height
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{_FONT}">',
        f"<title>{escape(diagram.title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6b7f"/></marker></defs>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
        f'<text class="flow-title" x="{_MARGIN}" y="{_MARGIN + 4}" font-size="12" fill="#6b7785">'
        f"{escape(diagram.title)}</text>",
    ]
    for edge, chain in diagram.edges:
        out.extend(_svg_edge(diagram.boxes, edge, chain))
    for box in diagram.boxes.values():
        if not box.is_dummy:
            out.extend(_svg_box(box))
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- Mermaid ---------------------------------------------------------------------------------
def _mermaid_id(key: str) -> str:
    if key == GATEWAY_IN:
        return "gateway_in"
    if key == GATEWAY_OUT:
        return "gateway_out"
    return "ex_" + "".join(c if c.isalnum() else "_" for c in key)


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def to_mermaid(flow: Flow | FlowSpec) -> str:
    """The topology as a Mermaid ``flowchart LR`` (renders on GitHub and in many notebooks)."""
    spec = _spec_of(flow)
    diagram = layout(spec)
    lines = ["flowchart LR"]
    lines.append(f'    gateway_in(["gateway<br/>{_mermaid_text(spec.gateway.protocol)}"]):::gateway')
    for executor in spec.executors:
        box = diagram.boxes[executor.name]
        label = "<br/>".join([_mermaid_text(box.title), *(_mermaid_text(t) for t, _ in box.details)])
        lines.append(f'    {_mermaid_id(executor.name)}["{label}"]:::{box.kind}')
    lines.append('    gateway_out(["gateway<br/>response"]):::gateway')
    for edge, _ in diagram.edges:
        arrow = "-.->" if edge.dashed else "-->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"    {_mermaid_id(edge.source)} {arrow}{label} {_mermaid_id(edge.target)}")
    for kind, (fill, stroke, ink) in _COLOURS.items():
        dash = ",stroke-dasharray:5 5" if kind == "floating" else ""
        lines.append(f"    classDef {kind} fill:{fill},stroke:{stroke},color:{ink}{dash}")
    return "\n".join(lines) + "\n"


# -- files -----------------------------------------------------------------------------------
def _png(svg: str, path: pathlib.Path) -> None:
    try:
        import cairosvg  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except (ImportError, OSError) as exc:  # OSError: the package is there but libcairo is not
        raise MissingRendererError(
            f"writing {path.name} needs the 'cairosvg' package and the cairo library ({exc}); "
            "install it with `pip install cairosvg`, or write .svg or .mmd, which need nothing"
        ) from exc
    cairosvg.svg2png(bytestring=svg.encode(), write_to=str(path), scale=2.0)


def plot_flow(
    flow: Flow | FlowSpec,
    output: str | os.PathLike[str] | None = None,
    *,
    annotations: Mapping[str, NodeAnnotation] | None = None,
) -> str:
    """Render the Flow; write it to ``output`` when given (``.svg``, ``.png``, ``.mmd``); return the SVG."""
    svg = render_svg(flow, annotations)
    if output is None:
        return svg
    path = pathlib.Path(output)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        path.write_text(svg, encoding="utf-8")
    elif suffix == ".png":
        _png(svg, path)
    elif suffix in (".mmd", ".mermaid"):
        path.write_text(to_mermaid(flow), encoding="utf-8")
    else:
        raise ValueError(f"cannot plot to {str(path)!r}: choose a .svg, .png or .mmd file name")
    return svg


def plot_command(
    path: str | os.PathLike[str], output: str | os.PathLike[str], out: TextIO | None = None
) -> int:
    """``devkit plot flow.yml flow.svg``: draw the Flow a YAML file describes; 0 on success.

    Errors (bad YAML, unknown format, missing renderer) propagate; the CLI reports them.
    """
    from devkit.orchestrate.flow import Flow

    flow = Flow.load_config(path)
    plot_flow(flow, output)
    print(f"wrote {output} ({len(flow.executor_names)} Executors)", file=out or sys.stdout)
    return 0
