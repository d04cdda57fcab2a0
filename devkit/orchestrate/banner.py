"""The "ready to serve" banner: protocol and local address (no public-IP lookup)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

__all__ = ["print_banner"]


def print_banner(kind: str, protocol: str, host: str, port: int | None) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_row("Protocol", protocol.upper())
    table.add_row("Local", f"{host}:{port}")
    console = Console(file=sys.stderr, highlight=False)
    console.print(Panel(table, title=f"{kind} is ready to serve!", expand=False))
