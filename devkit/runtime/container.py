"""The container runtime: each worker runs in a Docker container, behind the same handle contract.

The engine publishes the worker's port on the host (on the worker's host address, loopback
by default); the handle is ready when a gRPC health check through that port passes, since
docker-proxy accepts TCP before anything listens inside. The container runs with ``--init``
so SIGTERM reaches the worker, which drains; it is removed once stopped, and its output is
forwarded line by line to the ``devkit.container`` logger, prefixed with the server's name.
A gateway stays on the host (a thread): only workers go into containers.

A worker that traces or exports metrics gets the OpenTelemetry variables a process worker
would inherit, and its exporters on the host's loopback (a collector, the test kit's span
receiver) reach it through relays on the Docker bridge (:mod:`devkit.container.host_access`),
so its spans continue the gateway's trace like any other worker's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from typing import Any

from devkit.container import engine
from devkit.container.host_access import HostAccess, observed_from_container
from devkit.container.placement import CONTAINER_PORT, ENTRYPOINT, place
from devkit.errors import RuntimeFailToStart
from devkit.runtime.address import Address, bound_host
from devkit.runtime.base import DEFAULT_GRACE, ServeFn, ready_address, stop_timeout
from devkit.runtime.thread import start_thread
from devkit.spec.models import WorkerSpec

__all__ = ["ContainerHandle", "base_image", "grpc_serving", "start_container"]

log = logging.getLogger("devkit.container")


def base_image() -> str:
    """The image workers run on: ``DEVKIT_BASE_IMAGE``, else devkit's base image (built if missing)."""
    chosen = os.environ.get("DEVKIT_BASE_IMAGE")
    if chosen:
        return chosen
    from devkit.container.base_image import build_base_image

    return build_base_image()


def grpc_serving(port: int, host: str) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"{host}:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1.0)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


class ContainerHandle:
    """One worker in one container; ``stop`` leaves no container behind.

    Two threads watch the container from its start: one waits until the worker is ready (or
    its container exited first), the other forwards its output and, once the output ends,
    waits for its exit status. Each reports through a socket an orchestrator's supervisor can
    wait on (:attr:`ready_pipe`, :attr:`sentinel`), as it does on a child process's.
    """

    def __init__(self, name: str, spec: WorkerSpec) -> None:
        self.name = name
        self.spec = spec
        #: where the engine publishes the worker's port (its spec's host), as dialled from here
        self.host = bound_host(spec)
        self.all_ports: tuple[int, ...] = ()
        self._port: int | None = None
        self._client: Any = None
        self._container: Any = None
        self._threads: list[threading.Thread] = []
        #: relays to the host's loopback collectors, closed with the container
        self._host_access: HostAccess | None = None
        self.stopping = False  # set by stop(): the container's exit is then expected
        self._ready = threading.Event()
        self._failure: RuntimeFailToStart | None = None
        self._ready_r, self._ready_w = socket.socketpair()
        self._exit_r, self._exit_w = socket.socketpair()
        #: the container's exit status once it exited: 0 when the worker drained on SIGTERM
        self.exit_code: int | None = None

    @property
    def address(self) -> Address:
        """Where the worker answers, from the host: its host and published port."""
        return ready_address(self.name, self.host, self._port)

    def start(self) -> ContainerHandle:
        self._client = engine.docker_client()
        access = self._host_access = HostAccess(self.name, self._client)
        try:
            telemetry, observed = observed_from_container(self.spec.telemetry, os.environ, access)
            placement = place(self.spec.model_copy(update={"telemetry": telemetry}), base_image())
            engine.started_any = True
            self._container = self._run(placement, observed, access.extra_hosts)
        except BaseException:
            access.close()
            self._client.close()
            self._close_pipes()
            raise
        for target, what in ((self._watch_ready, "ready"), (self._forward_logs, "logs")):
            thread = threading.Thread(target=target, name=f"devkit-{what}-{self.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, placement: Any, observed: dict[str, str], extra_hosts: dict[str, str]) -> Any:
        return self._client.containers.run(
            placement.image,
            placement.command,
            entrypoint=ENTRYPOINT,
            detach=True,
            init=True,
            ports={f"{CONTAINER_PORT}/tcp": (self.spec.host or "127.0.0.1", self.spec.port or None)},
            volumes={folder: {"bind": folder, "mode": "ro"} for folder in placement.mounts},
            environment={
                "PYTHONUNBUFFERED": "1",
                **({"PYTHONPATH": ":".join(placement.pythonpath)} if placement.pythonpath else {}),
                **observed,
            },
            extra_hosts=extra_hosts or None,
            working_dir=placement.workdir,
            labels={engine.LABEL: self.name, engine.OWNER_LABEL: str(os.getpid())},
        )

    def _forward_logs(self) -> None:
        """Forward the output line by line; once it ends (the container exited), learn the status."""
        with contextlib.suppress(Exception):  # the container is gone: nothing more to forward
            for line in self._container.logs(stream=True, follow=True):
                log.info("%s | %s", self.name, line.decode(errors="replace").rstrip())
        with contextlib.suppress(Exception):  # removed meanwhile: stop() reads the status itself
            self.exit_code = int(self._container.wait(timeout=None)["StatusCode"])
        with contextlib.suppress(OSError):
            self._exit_w.send(b"!")

    def _published_port(self) -> int | None:
        ports = self._container.attrs["NetworkSettings"]["Ports"] or {}
        bindings = ports.get(f"{CONTAINER_PORT}/tcp") or []
        return int(bindings[0]["HostPort"]) if bindings else None

    def _watch_ready(self) -> None:
        """Until the worker passes a health check through its published port, or its container
        exits, or it is stopped."""
        try:
            while not self.stopping:
                self._container.reload()
                if self._container.status in ("exited", "dead"):
                    tail = self._container.logs(tail=20).decode(errors="replace").strip()
                    code = self._container.attrs["State"]["ExitCode"]
                    self._failure = RuntimeFailToStart(
                        f"{self.name}'s container exited with code {code} before it was ready:\n{tail}"
                    )
                    return
                port = self._published_port()
                if port is not None and grpc_serving(port, self.host):
                    self._port = port
                    self.all_ports = (port,)
                    return
                time.sleep(0.1)
        except Exception as exc:  # the engine failed us (or removed the container under us)
            self._failure = RuntimeFailToStart(
                f"{self.name}'s container could not be watched: {type(exc).__name__}: {exc}"
            )
        finally:
            self._ready.set()
            with contextlib.suppress(OSError):
                self._ready_w.send(b"!")

    def wait_ready(self, timeout: float | None) -> Address:
        if not self._ready.wait(timeout):
            raise RuntimeFailToStart(
                f"{self.name}'s container did not become ready within {timeout:g} s; "
                "raise timeout_ready if its Executor needs longer to load"
            )
        if self._failure is not None:
            raise self._failure
        if self._port is None:
            raise RuntimeFailToStart(f"{self.name} was stopped before it was ready")
        return self.address

    def stop(self, timeout: float | None = None, *, grace: float | None = DEFAULT_GRACE) -> None:
        """SIGTERM (the worker drains), wait ``timeout`` (default grace + margin), then remove it."""
        if self.stopping or self._container is None:
            return
        self.stopping = True
        wait = stop_timeout(timeout, grace)
        with contextlib.suppress(Exception):
            self._container.stop(timeout=int(wait) if wait is not None else 3600)
            self.exit_code = int(self._container.wait(timeout=10)["StatusCode"])
        with contextlib.suppress(Exception):
            self._container.remove(force=True)
        for thread in self._threads:
            thread.join(5.0)
        if self._host_access is not None:
            self._host_access.close()
        self._client.close()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for end in (self._ready_r, self._ready_w, self._exit_r, self._exit_w):
            end.close()

    def is_alive(self) -> bool:
        if self._container is None or self.stopping:
            return False
        try:
            self._container.reload()
        except Exception:
            return False
        return bool(self._container.status == "running")

    # -- what a supervisor waits on (as on a child process) -----------------------------
    @property
    def sentinel(self) -> socket.socket:
        """Readable (``multiprocessing.connection.wait``) once the container exited."""
        return self._exit_r

    @property
    def ready_pipe(self) -> socket.socket:
        """Readable once the worker is ready or its start failed: ``wait_ready`` then answers at once."""
        return self._ready_r

    @property
    def exitcode(self) -> int | None:
        """As a child process's: ``None`` while it runs; negative: killed by that signal (the
        engine reports ``128 + N``, as after ``docker kill``: 137)."""
        code = self.exit_code
        if code is not None and code > 128 and (code - 128) in signal.valid_signals():
            return 128 - code
        return code

    @property
    def instance(self) -> str:
        """Which container this is, for logs: ``container <short id>``."""
        return f"container {self._container.short_id}" if self._container is not None else "no container"


def start_container(name: str, serve: ServeFn, spec: Any) -> Any:
    """Start a worker in a container; anything else (a gateway) stays on the host, in a thread."""
    if not isinstance(spec, WorkerSpec):
        return start_thread(name, serve, spec)
    return ContainerHandle(name, spec).start()
