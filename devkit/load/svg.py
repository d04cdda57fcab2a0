"""Latency over time as a standalone SVG: plain text, no plotting library, no network.

Every request is a dot (red when it failed) at its send time and round trip; a line
follows the p50 and one the p99 of each time slice. Many requests are thinned to a
fixed number of dots, evenly, so the file stays small. Drawn in the style of
:mod:`devkit.plot` (same font), whose topology layout has no chart helpers to share.
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Sequence
from html import escape

from devkit.load.ledger import percentile
from devkit.load.report import LoadReport

__all__ = ["render_latency_svg", "write_latency_svg"]

_FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
_W, _H = 760, 380
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 20, 44, 48
_MAX_DOTS = 4000
_SLICES = 40


def _nice_step(span: float, ticks: int = 5) -> float:
    """A 1/2/5 x 10^n step giving about ``ticks`` ticks over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _ticks(top: float) -> list[float]:
    step = _nice_step(top)
    return [i * step for i in range(int(top / step) + 1)]


def _polyline(points: Sequence[tuple[float, float]], colour: str, css: str) -> str:
    text = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline class="{css}" points="{text}" fill="none" stroke="{colour}" stroke-width="1.8"/>'


def render_latency_svg(report: LoadReport) -> str:
    """The report's requests as latency (ms) against send time (s)."""
    samples = report.samples
    xs = [s.sent_ns / 1e9 for s in samples]
    ys = [s.latency_ns / 1e6 for s in samples]
    x_top = max([report.elapsed_s, *xs, 1e-3])
    y_top = max([*ys, 1e-3]) * 1.05
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def px(x: float) -> float:
        return _LEFT + x / x_top * plot_w

    def py(y: float) -> float:
        return _TOP + plot_h - y / y_top * plot_h

    title = (
        f"{report.endpoint} on {report.target}: {report.requests} requests, {report.concurrency} concurrent, "
        f"p50 {report.latency_ms['p50']:.2f} ms, p99 {report.latency_ms['p99']:.2f} ms"
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        f'font-family="{_FONT}">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{_W}" height="{_H}" fill="#ffffff"/>',
        f'<text class="chart-title" x="{_LEFT}" y="24" font-size="13" fill="#27364f">{escape(title)}</text>',
        f'<g class="axes" stroke="#5b6b7f" stroke-width="1"><line x1="{_LEFT}" y1="{_TOP + plot_h}" '
        f'x2="{_LEFT + plot_w}" y2="{_TOP + plot_h}"/><line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" '
        f'y2="{_TOP + plot_h}"/></g>',
    ]
    for value in _ticks(y_top / 1.05):
        y = py(value)
        out.append(
            f'<g class="y-tick"><line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + plot_w}" y2="{y:.1f}" '
            f'stroke="#e4e9f0"/><text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#3e4a57">{value:g}</text></g>'
        )
    for value in _ticks(x_top):
        x = px(value)
        out.append(
            f'<g class="x-tick"><line x1="{x:.1f}" y1="{_TOP + plot_h}" x2="{x:.1f}" y2="{_TOP + plot_h + 4}" '
            f'stroke="#5b6b7f"/><text x="{x:.1f}" y="{_TOP + plot_h + 17}" text-anchor="middle" font-size="11" '
            f'fill="#3e4a57">{value:g}</text></g>'
        )
    out.append(
        f'<text x="{_LEFT + plot_w / 2:.1f}" y="{_H - 10}" text-anchor="middle" font-size="12" '
        'fill="#3e4a57">time since start (s)</text>'
    )
    out.append(
        f'<text x="16" y="{_TOP + plot_h / 2:.1f}" text-anchor="middle" font-size="12" fill="#3e4a57" '
        f'transform="rotate(-90 16 {_TOP + plot_h / 2:.1f})">latency (ms)</text>'
    )
    stride = max(1, math.ceil(len(samples) / _MAX_DOTS))
    out.append('<g class="requests">')
    for index in range(0, len(samples), stride):
        failed = samples[index].error is not None
        out.append(
            f'<circle cx="{px(xs[index]):.1f}" cy="{py(ys[index]):.1f}" r="1.8" '
            f'fill="{"#c0392b" if failed else "#4a6fa5"}" fill-opacity="0.55"/>'
        )
    out.append("</g>")
    slices: list[list[float]] = [[] for _ in range(_SLICES)]
    for x, y, sample in zip(xs, ys, samples, strict=True):
        if sample.error is None:
            slices[min(_SLICES - 1, int(x / x_top * _SLICES))].append(y)
    for fraction, colour, css in ((0.5, "#27364f", "p50"), (0.99, "#d98e04", "p99")):
        points = [
            (px((i + 0.5) * x_top / _SLICES), py(percentile(sorted(values), fraction)))
            for i, values in enumerate(slices)
            if values
        ]
        if points:
            out.append(_polyline(points, colour, css))
    legend_x = _LEFT + plot_w - 190
    out.append(
        f'<g class="legend" font-size="11" fill="#3e4a57">'
        f'<line x1="{legend_x}" y1="{_TOP + 8}" x2="{legend_x + 18}" y2="{_TOP + 8}" stroke="#27364f" '
        f'stroke-width="1.8"/><text x="{legend_x + 22}" y="{_TOP + 12}">p50</text>'
        f'<line x1="{legend_x + 52}" y1="{_TOP + 8}" x2="{legend_x + 70}" y2="{_TOP + 8}" stroke="#d98e04" '
        f'stroke-width="1.8"/><text x="{legend_x + 74}" y="{_TOP + 12}">p99</text>'
        f'<circle cx="{legend_x + 110}" cy="{_TOP + 8}" r="3" fill="#c0392b"/>'
        f'<text x="{legend_x + 116}" y="{_TOP + 12}">error</text></g>'
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_latency_svg(report: LoadReport, path: str | os.PathLike[str]) -> pathlib.Path:
    """Write the plot to ``path`` (an ``.svg`` file); return the path."""
    target = pathlib.Path(path)
    if target.suffix.lower() != ".svg":
        raise ValueError(f"cannot plot to {str(target)!r}: the latency plot is written as SVG; name it .svg")
    target.write_text(render_latency_svg(report), encoding="utf-8")
    return target
