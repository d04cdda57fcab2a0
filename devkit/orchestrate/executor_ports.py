"""``Flow.add(port=...)`` of a local Executor: the port each of its servers listens on.

jina fixes an Executor's own gRPC port this way, so that the Executor can be reached (pinged,
posted to) directly. With replicas or shards there is one server per replica of each shard:
one port means it and the ports after it, a list gives each server's port (shard-major).
Fixed ports are checked before anything starts, so a clash names the port and the Executor
instead of surfacing as a worker that failed to start.
"""

from __future__ import annotations

from collections.abc import Sequence

from devkit.errors import ConfigError
from devkit.runtime.address import port_in_use
from devkit.spec.topology import Topology

__all__ = ["check_fixed_ports", "worker_ports"]


def worker_ports(
    what: str, port: int | str | Sequence[int | str] | None, replicas: int, shards: int
) -> tuple[int, ...]:
    """One port per server (shard-major), or ``()`` for free ports chosen at start."""
    if port is None:
        return ()
    listed = [port] if isinstance(port, (int, str)) else list(port)
    try:
        ports = [int(p) for p in listed]
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: port={port!r} is not a port number or a list of them") from None
    count = replicas * shards
    if len(ports) == 1 and ports[0] != 0:
        ports = [ports[0] + i for i in range(count)]
    elif len(ports) == 1:
        ports = ports * count
    if len(ports) != count:
        raise ConfigError(
            f"{what}: port={port!r} gives {len(ports)} ports for {replicas} replicas x {shards} shards = "
            f"{count} servers; pass one port (the servers take it and the {count - 1} after it) "
            f"or a list of {count}, one per replica of each shard"
        )
    bad = [p for p in ports if not 0 <= p <= 65535]
    if bad:
        raise ConfigError(f"{what}: port={port!r} holds {bad[0]}, which is not a port (0-65535)")
    twice = sorted({p for p in ports if p and ports.count(p) > 1})
    if twice:
        raise ConfigError(f"{what}: port={port!r} gives port {twice[0]} to two servers; give each its own")
    return tuple(ports)


def check_fixed_ports(topology: Topology) -> None:
    """Raise :class:`ConfigError` when a worker's fixed port is given twice in the Flow (to
    another worker or the gateway) or something already listens on it."""
    owners: dict[int, str] = {}
    if topology.gateway is not None:
        for front in topology.gateway.protocols:
            if front.port:
                owners[front.port] = f"the gateway's {front.protocol} front-end"
    for plan in topology.executors:
        for worker in plan.workers:
            if not worker.port:
                continue
            server = f"Executor {plan.name!r} ({worker.display_name})"
            if worker.port in owners:
                raise ConfigError(
                    f"port {worker.port} is given to {server} and to {owners[worker.port]}; "
                    "give each server its own port"
                )
            owners[worker.port] = server
            if port_in_use(worker.host, worker.port):
                raise ConfigError(
                    f"port {worker.port} of {server} is already in use on {worker.host}; stop what "
                    f"listens there or pass another port= to add(name={plan.name!r})"
                )
