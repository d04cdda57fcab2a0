"""What Deployment and Flow share: lifecycle, the implicit client, ``block``."""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Callable
from typing import Any

from devkit.client.sync_client import Client
from devkit.errors import ConfigError
from devkit.logs import setup_logging
from devkit.orchestrate.addressing import CLIENT, AddressRewriter, Edge, rewrite
from devkit.orchestrate.banner import print_banner
from devkit.orchestrate.handles import HandleGroup
from devkit.orchestrate.yaml_reload import YamlSource
from devkit.runtime.address import Address
from devkit.runtime.base import DEFAULT_GRACE
from devkit.spec.models import GatewaySpec
from devkit.spec.topology import Topology

__all__ = ["Orchestrator", "State", "ms_to_seconds"]


class State(enum.Enum):
    NEW = "new"
    STARTED = "started"
    CLOSED = "closed"


def ms_to_seconds(value: float | None) -> float | None:
    """Jina's millisecond timeouts (``-1`` or ``None``: forever) as seconds (``None``: forever)."""
    if value is None or value < 0:
        return None
    return value / 1000.0


class Orchestrator:
    """Owns started servers; ``with`` starts them and leaves nothing running on exit."""

    kind = "Orchestrator"

    def __init__(self) -> None:
        self._group = HandleGroup(self.kind.lower())
        self._state = State.NEW
        self._client: Client | None = None
        self.port: int | None = None
        #: the host the front door answers on, as dialled from this machine (set once started)
        self.host: str | None = None
        #: each protocol the front door serves, with its port (the first is ``port``)
        self.ports_by_protocol: dict[str, int] = {}
        self.quiet = False
        #: a logging dictConfig file (YAML or JSON) applied when this starts
        self.log_config: str | None = None
        #: the YAML this was loaded from with ``reload=True``: ``block()`` restarts it on a change
        self.yaml_source: YamlSource | None = None
        self.address_rewriters: list[AddressRewriter] = []
        #: called with every response the implicit client receives (see ``Client(observers=...)``)
        self.observers: list[Callable[[Any], Any]] = []

    def route_through(self, rewriter: AddressRewriter) -> None:
        """Dial every address through ``rewriter`` (for instance a fault proxy); set before start."""
        if self._state is not State.NEW:
            raise RuntimeError(f"add address rewriters before the {self.kind} starts")
        self.address_rewriters.append(rewriter)

    def _dial(self, edge: Edge, address: str) -> str:
        return rewrite(self.address_rewriters, edge, address)

    def _flags_to_save(self) -> dict[str, Any]:
        """The constructor flags that live on the orchestrator, not in its spec, where they differ
        from their defaults: ``save_config`` writes them with the spec."""
        flags: dict[str, Any] = {}
        if self.quiet:
            flags["quiet"] = True
        if not self.restart_on_crash:
            flags["restart_on_crash"] = False
        return flags

    @property
    def entry_name(self) -> str:
        """The name of what the client talks to (the gateway, or a lone Executor)."""
        return "gateway"

    @staticmethod
    def _check_runtimes(topology: Topology) -> None:
        """An image (``uses='docker://...'``) runs only in a container; say so before starting."""
        for plan in topology.executors:
            uses = plan.executor.uses
            if isinstance(uses, str) and uses.startswith("docker://") and plan.runtime != "container":
                raise ConfigError(
                    f"Executor {plan.name!r} has uses={uses!r}, an image, which runs only in a container "
                    f"(runtime is {plan.runtime!r}); pass runtime='container', or export it with "
                    "to_docker_compose_yaml() or to_kubernetes_yaml()"
                )

    def _start_gateway(self, gateway: GatewaySpec, runtime: str, timeout: float | None) -> None:
        """Start the gateway (one front-end per protocol), learn its ports, print the banner."""
        from devkit.serve.gateway.runner import run_gateway

        (address,) = self._group.start_batch(runtime, [(gateway.name, run_gateway, gateway)], timeout)
        ports = self._group.handles[-1].all_ports
        self._serving(address, dict(zip((p.protocol for p in gateway.protocols), ports, strict=True)))

    def _serving(self, front: Address, ports_by_protocol: dict[str, int]) -> None:
        """The front door is ready at ``front`` (its first port), one port per protocol: say so."""
        self.host, self.port = front.host, front.port
        self.ports_by_protocol = ports_by_protocol
        if not self.quiet:
            print_banner(self.kind, front.host, self.ports_by_protocol)

    def front_address(self, protocol: str) -> Address:
        """Where the front door serves ``protocol``, as a client on this machine dials it."""
        if self.host is None or protocol not in self.ports_by_protocol:
            raise RuntimeError(f"start the {self.kind} first (use `with` or .start())")
        return Address(self.host, self.ports_by_protocol[protocol])

    # -- what runs, and its export (devkit.export) ----------------------------------------
    @property
    def topology(self) -> Topology:
        """The workers and gateway this would run (:mod:`devkit.spec.topology`)."""
        raise NotImplementedError

    def to_docker_compose_yaml(
        self,
        output_path: str | os.PathLike[str] | None = None,
        network_name: str | None = None,
        *,
        image: str | None = None,
    ) -> str:
        """Write a docker-compose file (default ``docker-compose.yml``) that runs this in containers.

        ``image`` holds devkit and runs the gateway and Executors given by class name (default
        ``DEVKIT_IMAGE`` or ``devkit-runtime:latest``); ``uses='docker://IMAGE'`` Executors run
        their own image. ``network_name`` is accepted for jina's signature; compose's default
        project network is used.
        """
        from devkit.export.compose import write_compose

        return write_compose(self.topology, output_path, image)

    def to_kubernetes_yaml(
        self,
        output_base_path: str | os.PathLike[str],
        k8s_namespace: str | None = None,
        include_gateway: bool = True,
        *,
        image: str | None = None,
    ) -> list[str]:
        """Write Kubernetes manifests under ``output_base_path``; return the files written."""
        from devkit.export.kubernetes import write_kubernetes

        return write_kubernetes(self.topology, output_base_path, k8s_namespace, image, include_gateway)

    to_k8s_yaml = to_kubernetes_yaml

    # -- lifecycle -------------------------------------------------------------------------
    def _start(self) -> None:
        raise NotImplementedError

    def start(self) -> Any:
        if self._state is State.STARTED:
            raise RuntimeError(f"this {self.kind} is already started")
        if self._state is State.CLOSED:
            raise RuntimeError(f"this {self.kind} was closed; build a new one to start again")
        setup_logging(log_config=self.log_config)  # reads DEVKIT_LOG_LEVEL / JINA_LOG_LEVEL now
        self._start_or_close()
        self._state = State.STARTED
        return self

    def close(self, grace: float | None = DEFAULT_GRACE) -> None:
        """Stop every server, newest first (the gateway before the Executors it calls). Each
        answers the requests it accepted, for up to ``grace`` seconds (None: however long
        they take), and refuses new ones with UNAVAILABLE meanwhile. Idempotent."""
        if self._state is State.CLOSED:
            return
        self._state = State.CLOSED
        self._close_client()
        self._group.stop_all(grace)

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def block(self, stop_event: threading.Event | None = None) -> None:
        """Serve until ``stop_event`` is set (or Ctrl-C)."""
        event = stop_event or threading.Event()
        try:
            if self.yaml_source is not None:
                from devkit.orchestrate.yaml_reload import block_reloading

                block_reloading(self, self.yaml_source, event)
            else:
                while not event.wait(0.5):
                    pass
        except KeyboardInterrupt:
            pass

    def restart_as(self, fresh: Orchestrator) -> None:
        """Stop every server and serve ``fresh``'s configuration in their place (a reloaded YAML)."""
        self._close_client()
        self._group.stop_all()
        kept = {"_state", "observers", "address_rewriters", "yaml_source"}
        self.__dict__.update({key: value for key, value in fresh.__dict__.items() if key not in kept})
        self._start_or_close()

    def _start_or_close(self) -> None:
        """Start the servers; if one fails, stop those already started and end up CLOSED."""
        try:
            self._start()
        except BaseException:
            self._group.stop_all()
            self._state = State.CLOSED
            raise

    # -- requests --------------------------------------------------------------------------
    @property
    def client(self) -> Client:
        if self._state is not State.STARTED or self.port is None:
            raise RuntimeError(f"start the {self.kind} first (use `with` or .start())")
        if self._client is None:
            # gRPC when the front door speaks it (the fastest), else its first protocol
            protocol = "grpc" if "grpc" in self.ports_by_protocol else next(iter(self.ports_by_protocol))
            address = self._dial(Edge(CLIENT, self.entry_name), str(self.front_address(protocol)))
            self._client = Client(
                host=address, protocol=protocol, observers=self.observers, **self._client_tracing()
            )
        return self._client

    def _client_tracing(self) -> dict[str, Any]:
        """The implicit client traces when the front door does, so a trace starts at the call."""
        return {}

    def post(self, on: str, inputs: Any = None, parameters: Any = None, **kwargs: Any) -> Any:
        """Send a request through the implicit client (same options as ``Client.post``)."""
        return self.client.post(on, inputs, parameters, **kwargs)

    def stream_doc(self, on: str, inputs: Any, **kwargs: Any) -> Any:
        return self.client.stream_doc(on, inputs, **kwargs)

    @property
    def alive_servers(self) -> list[str]:
        return self._group.alive()

    @property
    def restart_on_crash(self) -> bool:
        """Whether a process- or container-runtime server whose process or container dies is
        restarted (on the same port)."""
        return self._group.restart_on_crash

    @restart_on_crash.setter
    def restart_on_crash(self, value: bool) -> None:
        self._group.restart_on_crash = value

    @property
    def pids(self) -> dict[str, int]:
        """The process id of each process-runtime server, by name (``'encoder/rep-0'``)."""
        return self._group.pids()

    @property
    def ports(self) -> list[int]:
        """Every port this orchestrator's servers listened on (gateway and workers)."""
        return list(self._group.ports)

    @property
    def addresses(self) -> list[Address]:
        """Every address this orchestrator's servers listened on: each port with its host."""
        return list(self._group.addresses)
