"""What a server says about itself on `_status` and `/status`."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform

from devkit.proto import jina_pb2

__all__ = ["DEVKIT_HEADER", "DEVKIT_KEY", "KNOWN_ENV_VARS", "devkit_version", "info_proto", "is_devkit_peer"]

#: Key in ``JinaInfoProto.jina`` through which devkit peers recognise each other.
DEVKIT_KEY = "devkit"

#: Header of a devkit WebSocket gateway's handshake answer (its devkit version): it tells a
#: devkit client, at no extra round trip, that the server reads devkit's document codec.
DEVKIT_HEADER = "x-devkit"

#: Environment variables devkit reads; listed by `_status` and the CLI.
KNOWN_ENV_VARS = ("DEVKIT_START_METHOD",)


def devkit_version() -> str:
    try:
        return importlib.metadata.version("devkit")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


@functools.cache
def _versions() -> dict[str, str]:
    """Read once: package metadata comes from disk (about 8 ms) and cannot change while serving."""
    return {
        DEVKIT_KEY: devkit_version(),
        "jina": "3.34.0",  # the protocol version devkit speaks
        "docarray": _version("docarray"),
        "grpcio": _version("grpcio"),
        "protobuf": _version("protobuf"),
        "python": platform.python_version(),
        "platform": platform.system(),
    }


def info_proto() -> jina_pb2.JinaInfoProto:
    info = jina_pb2.JinaInfoProto()
    info.jina.update(_versions())
    info.jina["session-id"] = str(os.getpid())
    info.envs.update({name: os.environ.get(name, "(unset)") for name in KNOWN_ENV_VARS})
    return info


def is_devkit_peer(info: jina_pb2.JinaInfoProto) -> bool:
    return DEVKIT_KEY in info.jina
