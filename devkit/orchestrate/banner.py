"""The "ready to serve" banner: each protocol with its local address (no public-IP lookup)."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from devkit.runtime.address import dialable

__all__ = ["print_banner"]


def print_banner(kind: str, host: str, ports: Mapping[str, int]) -> None:
    """One row per protocol; HTTP also links its Swagger UI and ReDoc pages."""
    table = Table.grid(padding=(0, 2))
    local = dialable(host)
    for protocol, port in ports.items():
        scheme = {"grpc": "grpc", "http": "http", "websocket": "ws"}.get(protocol, protocol)
        table.add_row(protocol.upper(), f"{scheme}://{local}:{port}")
        if protocol == "http":
            table.add_row("", f"docs  http://{local}:{port}/docs")
            table.add_row("", f"redoc http://{local}:{port}/redoc")
    console = Console(file=sys.stderr, highlight=False)
    console.print(Panel(table, title=f"{kind} is ready to serve!", expand=False))
