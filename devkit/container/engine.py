"""The Docker engine as devkit uses it: one client, and the labels that find devkit's containers."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["LABEL", "OWNER_LABEL", "docker_client", "engine_problem", "running_containers"]

#: every container devkit starts carries this label (its value: the server's name)
LABEL = "devkit.server"
#: ... and the id of the process that started it, so a leak check sees only its own
OWNER_LABEL = "devkit.owner"

#: set once this process started a container: only then does the leak check ask the engine
started_any = False


def docker_client() -> Any:
    """A client for the engine ``DOCKER_HOST`` names (default: the local socket)."""
    try:
        import docker
    except ImportError:
        raise RuntimeError(
            "runtime='container' needs the Docker SDK: pip install 'devkit[container]'"
        ) from None
    return docker.from_env()


def engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    try:
        client = docker_client()
    except Exception as exc:
        return f"no Docker engine: {exc}"
    try:
        client.ping()
    except Exception as exc:
        return f"no Docker engine answers ({type(exc).__name__}: {exc})"
    finally:
        client.close()
    return None


def running_containers() -> dict[str, str]:
    """This process's devkit containers that still exist: id -> server name."""
    if not started_any:
        return {}
    client = docker_client()
    try:
        found = client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={os.getpid()}"})
        return {container.id: container.labels.get(LABEL, "?") for container in found}
    finally:
        client.close()
