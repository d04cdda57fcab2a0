"""Addresses are data: every hop's address passes through rewriters before it is used.

A rewriter sees the edge (who calls whom) and the real address and returns the address to
dial instead. That is how a fault-injecting proxy is put on an edge without a single
branch on the request path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

__all__ = ["CLIENT", "AddressRewriter", "Edge", "rewrite"]

#: The name of the client end of the client -> gateway edge.
CLIENT = "client"


class Edge(NamedTuple):
    """``source`` calls replica ``replica`` of shard ``shard`` of ``target``."""

    source: str
    target: str
    shard: int = 0
    replica: int = 0


AddressRewriter = Callable[[Edge, str], str]


def rewrite(rewriters: list[AddressRewriter], edge: Edge, address: str) -> str:
    for rewriter in rewriters:
        address = rewriter(edge, address)
    return address
