"""One Executor in a Docker container for a test, on testcontainers.

``start_executor_container(uses)`` runs the Executor exactly as ``runtime='container'``
does (same image, command and read-only mounts; see :mod:`devkit.container.placement`) but
through testcontainers, so a test can hold the container itself: its address for a
``Client`` or for ``Flow().add(host=..., port=..., external=True)``, its logs, and
``stop()``. testcontainers must not pull its Ryuk reaper where no registry answers: set
``TESTCONTAINERS_RYUK_DISABLED=true`` (devkit removes its containers itself) and
``TESTCONTAINERS_CONNECTION_MODE=docker_host`` when the tests run inside a container.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from devkit.container import engine
from devkit.container.placement import CONTAINER_PORT, ENTRYPOINT, place
from devkit.errors import RuntimeFailToStart
from devkit.runtime.address import dialable
from devkit.runtime.container import base_image, grpc_serving
from devkit.spec.models import ExecutorSpec, WorkerSpec

__all__ = ["ExecutorContainer", "start_executor_container"]


@dataclass
class ExecutorContainer:
    """A started Executor container: where it answers, and the testcontainers object."""

    name: str
    host: str
    port: int
    container: Any

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def logs(self) -> str:
        out, err = self.container.get_logs()
        return (out + err).decode(errors="replace")

    def stop(self) -> None:
        self.container.stop()


def start_executor_container(
    uses: Any, *, name: str = "executor", uses_with: dict[str, Any] | None = None, timeout: float = 60.0
) -> ExecutorContainer:
    """Start ``uses`` (a class, ``module.Class``, YAML, folder or ``docker://image``) in a container."""
    from testcontainers.core.container import DockerContainer

    spec = WorkerSpec(name=name, executor=ExecutorSpec(uses=uses, uses_with=uses_with or {}))
    placement = place(spec, base_image())
    container = DockerContainer(
        placement.image,
        command=placement.command,  # type: ignore[arg-type]
        entrypoint=ENTRYPOINT,
        init=True,
        working_dir=placement.workdir,
        labels={engine.LABEL: name, engine.OWNER_LABEL: str(os.getpid())},
    )
    container.ports[f"{CONTAINER_PORT}/tcp"] = ("127.0.0.1", None)  # type: ignore[assignment]
    for folder in placement.mounts:
        container.with_volume_mapping(folder, folder, mode="ro")
    if placement.pythonpath:
        container.with_env("PYTHONPATH", ":".join(placement.pythonpath))
    engine.started_any = True
    container.start()
    try:
        host, port = container.get_container_host_ip(), container.get_exposed_port(CONTAINER_PORT)
        host = dialable(host)
        deadline = time.monotonic() + timeout
        while not grpc_serving(port, host):
            container.get_wrapped_container().reload()
            if container.get_wrapped_container().status == "exited" or time.monotonic() > deadline:
                out, err = container.get_logs()
                raise RuntimeFailToStart(
                    f"{name}'s container did not become ready:\n{(out + err).decode(errors='replace')[-2000:]}"
                )
            time.sleep(0.1)
    except BaseException:
        container.stop()
        raise
    return ExecutorContainer(name, host, port, container)
