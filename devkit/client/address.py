"""Where a client connects: host, port, protocol and TLS from the documented forms."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Address", "parse_address"]

_SCHEMES = {
    "grpc": ("grpc", False),
    "grpcs": ("grpc", True),
    "http": ("http", False),
    "https": ("http", True),
    "ws": ("websocket", False),
    "wss": ("websocket", True),
    "websocket": ("websocket", False),
}
PROTOCOLS = ("grpc", "http", "websocket")


@dataclass(frozen=True)
class Address:
    host: str
    port: int
    protocol: str
    tls: bool

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"


def parse_address(host: str, port: int | None, protocol: str | None, tls: bool) -> Address:
    """Normalise ``Client(host=..., port=..., protocol=..., tls=...)``.

    ``host`` may carry a scheme (``grpc://``, ``grpcs://``, ``http(s)://``, ``ws(s)://``)
    and a port; giving the port both there and as ``port=`` is an error. ``0.0.0.0``
    (a server's "all interfaces") is dialled as loopback.
    """
    proto = (protocol or "grpc").lower()
    if "://" in host:
        parts = urlsplit(host)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r} in host {host!r}; use one of {sorted(_SCHEMES)}")
        proto, scheme_tls = _SCHEMES[scheme]
        tls = tls or scheme_tls
        if parts.port is not None and port is not None:
            raise ValueError(f"the port is given twice: in host={host!r} and as port={port}")
        port = parts.port if parts.port is not None else port
        host = parts.hostname or "127.0.0.1"
    elif host.count(":") == 1:
        name, _, text_port = host.partition(":")
        if text_port.isdigit():
            if port is not None:
                raise ValueError(f"the port is given twice: in host={host!r} and as port={port}")
            host, port = name, int(text_port)
    if proto not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if port is None:
        port = 443 if tls else 80
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    return Address(host=host, port=int(port), protocol=proto, tls=tls)
