"""A load generator with a per-hop cost ledger: ``devkit load`` and :func:`run`.

``run(flow, LoadSpec(endpoint='/x', concurrency=16, duration=5))`` posts documents drawn
from the endpoint's schema until a bound, and returns a :class:`LoadReport`: throughput,
latency percentiles, errors by kind, and where each request's time went (see
:mod:`devkit.load.ledger`). ``write_latency_svg(report, 'out.svg')`` plots latency over time.
"""

from devkit.load.ledger import HOP_KINDS, LedgerRow
from devkit.load.report import LoadReport
from devkit.load.runner import run
from devkit.load.spec import LoadSpec, parse_duration
from devkit.load.svg import render_latency_svg, write_latency_svg

__all__ = [
    "HOP_KINDS",
    "LedgerRow",
    "LoadReport",
    "LoadSpec",
    "parse_duration",
    "render_latency_svg",
    "run",
    "write_latency_svg",
]
