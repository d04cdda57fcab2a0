"""How a worker in a container reaches a service on the host's loopback (an OTLP collector,
the test kit's span receiver): a relay on the Docker bridge.

Inside a container ``127.0.0.1`` is the container itself, and a collector on the host
usually listens on loopback only. For each loopback endpoint a container worker is told
about, :class:`HostAccess` listens on the bridge's gateway address (the host as containers
on the default bridge see it) and forwards every connection to the loopback port; the
container gets ``host.docker.internal`` mapped to that address and the endpoint rewritten to
it. Nothing listens beyond the bridge, and the relays close with the worker.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from devkit.observability.spec import TelemetrySpec, exporter_endpoint

__all__ = ["HOST_ALIAS", "HostAccess", "bridge_gateway", "is_loopback", "observed_from_container"]

#: the name a container worker uses for the host (Docker Desktop's convention)
HOST_ALIAS = "host.docker.internal"
_SIOCGIFADDR = 0x8915


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _interface_address(name: str) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        packed = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
    return socket.inet_ntoa(packed[20:24])


def bridge_gateway(client: Any) -> str:
    """The host's address on the engine's default bridge (what ``host-gateway`` means)."""
    attrs = client.networks.get("bridge").attrs
    for config in (attrs.get("IPAM") or {}).get("Config") or []:
        if config.get("Gateway"):
            return str(config["Gateway"])
    interface = (attrs.get("Options") or {}).get("com.docker.network.bridge.name", "docker0")
    try:
        return _interface_address(interface)
    except OSError as exc:
        raise RuntimeError(
            f"the Docker bridge interface {interface!r} has no IPv4 address on this host ({exc}); "
            "a container worker cannot reach a collector on the host's loopback: give the "
            "collector an address the containers can reach (traces_exporter_host=...)"
        ) from None


@dataclass
class _Relay:
    """Forwards each connection on ``listener`` to ``target`` (host, port), one thread a side."""

    name: str
    listener: socket.socket
    target: tuple[str, int]
    open: list[socket.socket] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def start(self) -> _Relay:
        self._thread(self._accept, "accept")
        return self

    def _thread(self, target: Any, role: str, *args: Any) -> None:
        thread = threading.Thread(
            target=target, args=args, name=f"devkit-relay-{self.name}-{role}", daemon=True
        )
        with self.lock:
            self.threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                inside, _ = self.listener.accept()
            except OSError:  # closed
                return
            try:
                outside = socket.create_connection(self.target, timeout=5.0)
            except OSError:
                inside.close()  # nothing listens on the host: the exporter sees a reset
                continue
            outside.settimeout(None)
            with self.lock:
                self.open.extend((inside, outside))
            self._thread(self._pump, "in", inside, outside)
            self._thread(self._pump, "out", outside, inside)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (close alone does not)
        self.listener.close()
        with self.lock:
            sockets, threads = list(self.open), list(self.threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in threads:
            thread.join(5.0)


class HostAccess:
    """The relays one container worker needs; :meth:`close` stops them all.

    The bridge's address is looked up from the engine (``client``) on the first relay only,
    unless ``gateway`` names it.
    """

    def __init__(self, name: str, client: Any, gateway: str | None = None) -> None:
        self.name = name
        self._client = client
        self._gateway = gateway
        self._relays: dict[tuple[str, int], _Relay] = {}

    @property
    def extra_hosts(self) -> dict[str, str]:
        """What the container's ``/etc/hosts`` needs (empty while nothing is relayed)."""
        return {HOST_ALIAS: self._gateway} if self._gateway is not None and self._relays else {}

    def port_for(self, host: str, port: int) -> int:
        """The bridge port that reaches ``host:port`` on the host's loopback."""
        target = ("127.0.0.1" if host == "localhost" else host.strip("[]"), port)
        relay = self._relays.get(target)
        if relay is None:
            if self._gateway is None:
                self._gateway = bridge_gateway(self._client)
            listener = socket.create_server((self._gateway, 0))
            relay = self._relays[target] = _Relay(self.name, listener, target).start()
        return relay.port

    def endpoint(self, url: str, default_port: int = 4317) -> str:
        """``url`` as the container must dial it: a loopback host becomes the relay."""
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.hostname is None or not is_loopback(parts.hostname):
            return url
        port = self.port_for(parts.hostname, parts.port or default_port)
        return f"{parts.scheme}://{HOST_ALIAS}:{port}{parts.path}"

    def close(self) -> None:
        for relay in self._relays.values():
            relay.close()
        self._relays.clear()


def observed_from_container(
    telemetry: TelemetrySpec, environ: Mapping[str, str], access: HostAccess
) -> tuple[TelemetrySpec, dict[str, str]]:
    """What a container worker is told about its exporters: the spec's exporter hosts and the
    OpenTelemetry variables a process worker would inherit, loopback endpoints relayed.

    Nothing is forwarded, and no relay started, for a worker that exports nothing.
    """
    if not (telemetry.tracing or telemetry.metrics):
        return telemetry, {}
    update: dict[str, Any] = {}
    for kind in ("traces", "metrics"):
        host, port = getattr(telemetry, f"{kind}_exporter_host"), getattr(telemetry, f"{kind}_exporter_port")
        endpoint = exporter_endpoint(host, port)
        if endpoint is None:
            continue
        inside = urlsplit(access.endpoint(endpoint))
        if inside.hostname == HOST_ALIAS:
            update[f"{kind}_exporter_host"] = f"{inside.scheme}://{HOST_ALIAS}"
            update[f"{kind}_exporter_port"] = inside.port
    variables = {
        key: access.endpoint(value) if key.endswith("_ENDPOINT") and value else value
        for key, value in environ.items()
        if key.startswith("OTEL_")
    }
    return telemetry.model_copy(update=update), variables
