"""Where a started server answers: one host and one port, as every runtime reports it.

A server asked to bind a wildcard (``0.0.0.0``, ``::``) or ``localhost`` is dialled on
``127.0.0.1`` from this machine; any other host is dialled as it was bound.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from typing import Any

__all__ = ["LOOPBACK", "Address", "bound_host", "dialable", "port_in_use"]

LOOPBACK = "127.0.0.1"
_DIALLED_AS_LOOPBACK = ("0.0.0.0", "::", "", "localhost")


def dialable(host: str) -> str:
    """``host`` as a client on this machine dials it: wildcards and ``localhost`` as loopback."""
    return LOOPBACK if host in _DIALLED_AS_LOOPBACK else host


def bound_host(spec: Any) -> str:
    """The host ``spec`` asks its server to bind (its ``host``; loopback when it has none), dialable."""
    return dialable(str(getattr(spec, "host", LOOPBACK)))


@dataclass(frozen=True)
class Address:
    """A server's host and port; ``str()`` is the ``host:port`` a gRPC channel dials."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        return f"{host}:{self.port}"


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on ``host:port`` already (checked by binding, as gRPC will).

    Only "address in use" counts: other bind errors are left for the server to report.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC binds: TIME_WAIT is fine
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False
