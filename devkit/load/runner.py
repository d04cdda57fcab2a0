"""``devkit.load.run``: start what is to be loaded (or dial it), prepare payloads, drive, report."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from docarray import BaseDoc, DocList

from devkit.client.address import Address, parse_address
from devkit.load.driver import drive
from devkit.load.payloads import draw_payloads, file_payloads
from devkit.load.report import LoadReport, build_report
from devkit.load.spec import LoadSpec
from devkit.orchestrate.addressing import CLIENT, Edge

if TYPE_CHECKING:
    from devkit.orchestrate.base import Orchestrator

__all__ = ["run"]


def _is_yaml(target: Any) -> bool:
    return isinstance(target, (str, os.PathLike)) and pathlib.Path(target).suffix.lower() in (".yml", ".yaml")


@contextlib.contextmanager
def _started(target: Any, spec: LoadSpec) -> Iterator[tuple[Orchestrator | None, Address, str]]:
    """The orchestrator (started here when it was not, closed on exit), the address to dial,
    and a name for reports."""
    from devkit.orchestrate.base import Orchestrator, State
    from devkit.orchestrate.flow import Flow

    if _is_yaml(target):
        target = Flow.load_config(target)
    if not isinstance(target, Orchestrator):
        address = parse_address(str(target), None, spec.protocol, False)
        yield None, address, f"{address.protocol}://{address.target}"
        return
    owned = target._state is State.NEW
    if owned:
        if spec.protocol is not None and isinstance(target, Flow):
            served = [p.protocol for p in target.spec.gateway.protocols]
            if spec.protocol not in served:
                target.config_gateway(protocol=spec.protocol)
        target.quiet = True
        target.start()
    try:
        protocol = spec.protocol or (
            "grpc" if "grpc" in target.ports_by_protocol else next(iter(target.ports_by_protocol), "grpc")
        )
        if protocol not in target.ports_by_protocol:
            raise ValueError(
                f"{target.kind} {getattr(target, 'name', '')!r} does not serve {protocol}; it serves "
                f"{', '.join(target.ports_by_protocol) or 'nothing'}: choose one of those with protocol="
            )
        dialled = target._dial(Edge(CLIENT, target.entry_name), str(target.front_address(protocol)))
        label = getattr(target, "name", "")
        name = target.kind if label in ("", target.kind, "executor") else f"{target.kind} {label!r}"
        yield target, parse_address(dialled, None, protocol, False), name
    finally:
        if owned:
            target.close()


def _request_schema(orchestrator: Any, address: Address, endpoint: str) -> type[BaseDoc] | None:
    """The endpoint's request schema: from the Flow or Deployment, else asked of a gRPC server."""
    from devkit.orchestrate.deployment import Deployment
    from devkit.orchestrate.flow import Flow

    if isinstance(orchestrator, Flow):
        from devkit.testing.contracts import flow_schemas

        return flow_schemas(orchestrator, endpoint)[0]
    if isinstance(orchestrator, Deployment):
        from devkit.testing.contracts import executor_endpoints

        table = executor_endpoints(orchestrator.spec.executor)
        served = table.get(endpoint) or table.get("/default")
        return None if served is None else served.request_schema
    if address.protocol == "grpc":
        return _in_fresh_loop(_discovered_schema(address, endpoint))
    return None  # HTTP/WebSocket addresses: plain documents unless a file is given


async def _discovered_schema(address: Address, endpoint: str) -> type[BaseDoc] | None:
    from google.protobuf import json_format

    from devkit.client.grpc import GrpcTransport
    from devkit.client.transport import ConnectionSettings
    from devkit.serve.gateway.http_schemas import endpoint_models

    transport = GrpcTransport(address, ConnectionSettings())
    try:
        found = await transport.endpoints()
    except Exception:  # a server without discovery: plain documents
        return None
    finally:
        await transport.close()
    schemas = json_format.MessageToDict(found.schemas) if found.HasField("schemas") else {}
    models = endpoint_models(schemas)
    served = models.get(endpoint) or models.get("/default")
    return None if served is None else served.input


def _payloads(spec: LoadSpec, schema: type[BaseDoc] | None) -> list[DocList[Any]]:
    if spec.docs_file is not None:
        return file_payloads(spec.docs_file, schema, spec.request_size)
    return draw_payloads(schema, spec.pool, spec.request_size, spec.seed)


def _in_fresh_loop(coro: Any) -> Any:
    """``asyncio.run``, on a thread of its own when this thread already runs a loop (notebooks)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def main() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=main, name="devkit-load")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def run(target: Any, spec: LoadSpec | None = None) -> LoadReport:
    """Load ``target`` (a Flow or Deployment, started here and closed after if it is not
    running yet; a flow.yml path; or an address such as ``grpc://127.0.0.1:12345``) as
    ``spec`` says, and report throughput, latency, errors and the per-hop ledger."""
    spec = spec or LoadSpec()
    with _started(target, spec) as (orchestrator, address, name):
        payloads = _payloads(spec, _request_schema(orchestrator, address, spec.endpoint))
        result = _in_fresh_loop(drive(address, spec, payloads))
    return build_report(
        result.samples,
        result.elapsed_ns,
        spec,
        target=name,
        protocol=address.protocol,
        client_cpu=result.cpu_ns / result.elapsed_ns if result.elapsed_ns else 0.0,
    )
