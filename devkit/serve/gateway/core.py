"""The topology walk: one request through the Executors of a Deployment or Flow.

Each request is walked with asyncio: every Executor gets a task that waits for the
Executors it needs, so parallel branches run concurrently. Nothing here is shared between
requests except the connections, so no per-request copy of the topology is needed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from docarray import DocList
from docarray.base_doc import AnyDoc
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import Message

from devkit.executor.decorators import DEFAULT_ENDPOINT
from devkit.observability import Telemetry
from devkit.proto import jina_pb2
from devkit.record.recorder import Recorder
from devkit.serve.answers import error_response
from devkit.serve.connection import ExecutorUnavailableError, ReplicaSet
from devkit.serve.gateway.peers import PeerEncoding
from devkit.serve.info import info_proto
from devkit.serve.merge import first_error, merge_requests
from devkit.serve.streaming import answer_stream
from devkit.spec.models import NodeSpec, Polling
from devkit.spec.schema_rule import SchemaMismatchError, schema_mismatches
from devkit.target import InvalidTargetExecutorError, compile_target_executor
from devkit.wire import error_status, read_docs_and_codec, write_docs

__all__ = ["GATEWAY_NODE", "GatewayCore", "NoEndpointError", "NodeClient", "NotStreamableError"]

log = logging.getLogger("devkit.gateway")

#: The longest a dry run waits for a replica's health check (less when the caller's deadline is nearer).
_DRY_RUN_WAIT = 5.0

#: The name by which an Executor `needs` the gateway (the start of the Flow).
GATEWAY_NODE = "gateway"


class NoEndpointError(LookupError):
    """No Executor of the topology serves the requested endpoint."""


class NotStreamableError(LookupError):
    """``stream_doc`` needs exactly one Executor to stream from."""


class NodeClient:
    """An Executor as the gateway sees it: shards, polling, and the endpoints it serves."""

    def __init__(self, spec: NodeSpec, interceptors: Sequence[Any] = ()) -> None:
        self.spec = spec
        self.name = spec.name
        self.shards = [
            ReplicaSet(
                spec.name,
                addresses,
                timeout_send=spec.timeout_send,
                retries=spec.retries,
                metadata=spec.grpc_metadata,
                tls=spec.tls,
                interceptors=interceptors,
            )
            for addresses in spec.shards
        ]
        self.encodings = [PeerEncoding(shard) for shard in self.shards]  # one per edge
        self._next_shard = itertools.cycle(range(len(self.shards)))
        self.endpoints: frozenset[str] | None = None  # None: unknown, assume it serves everything
        self.schemas: dict[str, Any] = {}
        self.discovery_error: str | None = None  # why the endpoints are unknown, if they are

    async def discover(self) -> None:
        """Learn the endpoints (a failure is logged and kept for ``dry_run``) and encodings."""
        await asyncio.gather(self._discover_endpoints(), *(edge.learn() for edge in self.encodings))

    async def _discover_endpoints(self) -> None:
        address = self.shards[0].addresses[0]
        try:
            found = await self.shards[0].discover_endpoints()
        except Exception as exc:
            cause = (
                f"{exc.code().name}: {exc.details()}" if isinstance(exc, grpc.aio.AioRpcError) else repr(exc)
            )
            kind = "external Executor" if self.spec.external else "Executor"
            self.discovery_error = f"endpoint discovery of {kind} {self.name!r} at {address} failed: {cause}"
            log.warning("%s; sending it every endpoint's requests", self.discovery_error)
            self.endpoints = None
            return
        self.discovery_error = None
        self.endpoints = frozenset(found.endpoints)
        self.schemas = json_format.MessageToDict(found.schemas) if found.HasField("schemas") else {}

    def schema_for(self, endpoint: str) -> dict[str, Any] | None:
        return self.schemas.get(endpoint) or self.schemas.get(DEFAULT_ENDPOINT)

    def serves(self, endpoint: str) -> bool:
        return self.endpoints is None or endpoint in self.endpoints or DEFAULT_ENDPOINT in self.endpoints

    async def send(
        self, requests: Sequence[jina_pb2.DataRequestProto], endpoint: str
    ) -> jina_pb2.DataRequestProto:
        if len(self.shards) == 1 or self.spec.polling_for(endpoint) is Polling.ANY:
            return await self._send_to(next(self._next_shard), requests)
        responses = await asyncio.gather(*(self._send_to(i, requests) for i in range(len(self.shards))))
        return first_error(responses) or merge_requests(responses)

    async def _send_to(
        self, shard: int, requests: Sequence[jina_pb2.DataRequestProto]
    ) -> jina_pb2.DataRequestProto:
        """Send to one shard in the encoding that peer reads."""
        edge = self.encodings[shard]
        try:
            return await self.shards[shard].send(await edge.outgoing(requests))
        except ExecutorUnavailableError:
            edge.forget()  # it may come back as something else: ask again
            raise

    def stream_doc(self, request: jina_pb2.SingleDocumentRequestProto) -> AsyncIterator[Message]:
        return self.shards[next(self._next_shard)].stream_doc(request)

    async def unreachable(self, timeout: float) -> list[str]:
        down: list[str] = []
        for shard in self.shards:
            down.extend(f"{self.name} at {address}" for address in await shard.unreachable(timeout))
        return down

    async def close(self) -> None:
        await asyncio.gather(*(shard.close() for shard in self.shards))


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def _with_docs(
    request: jina_pb2.DataRequestProto, docs: DocList[Any], devkit_peer: bool
) -> jina_pb2.DataRequestProto:
    """``request`` with other documents; in devkit's codec when it came in it (``devkit_peer``):
    the edge's :class:`PeerEncoding` transcodes for a jina peer."""
    copy = jina_pb2.DataRequestProto()
    copy.header.CopyFrom(request.header)
    copy.parameters.CopyFrom(request.parameters)
    write_docs(copy, docs, devkit_peer=devkit_peer)
    return copy


class GatewayCore:
    """Every operation a gateway front-end offers, whatever its protocol.

    ``post`` walks one request through the DAG of :class:`NodeClient` s, ``stream`` many;
    ``stream_doc``, ``dry_run``, ``endpoints``, ``status`` and ``health`` answer the rest.
    Front-ends (gRPC, HTTP, WebSocket, custom) only translate to and from their protocol.
    """

    def __init__(
        self,
        nodes: Sequence[NodeSpec],
        prefetch: int = 0,
        telemetry: Telemetry | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        #: the gateway's tracing (None: off); front-ends install its server interceptors
        self.telemetry = telemetry
        #: records every request ``post`` answers (None: off, and ``post`` does nothing more)
        self.recorder = recorder
        self.nodes = {
            spec.name: NodeClient(
                spec, () if telemetry is None else telemetry.client_interceptors(hops=True, peer=spec.name)
            )
            for spec in nodes
        }
        self.order = [spec.name for spec in nodes]  # specs arrive topologically sorted
        needed = {need for spec in nodes if not spec.floating for need in spec.needs}
        self.outputs = [spec.name for spec in nodes if not spec.floating and spec.name not in needed]
        self._floating: set[asyncio.Task[Any]] = set()
        self._limit = asyncio.Semaphore(prefetch) if prefetch > 0 else None
        self._serving = False

    async def start(self) -> None:
        """Learn each Executor's endpoints and refuse to start on mismatched schemas."""
        await asyncio.gather(*(node.discover() for node in self.nodes.values()))
        problems = schema_mismatches(self.nodes)
        if problems:
            raise SchemaMismatchError("the Flow's Executors do not fit together: " + "; ".join(problems))
        self._serving = True

    # -- the operations front-ends offer ---------------------------------------------------
    async def post(self, request: jina_pb2.DataRequestProto) -> jina_pb2.DataRequestProto:
        """Answer one request under the gateway's ``prefetch`` limit; never raises."""
        if self.recorder is not None:
            return await self._post_recorded(request, self.recorder)
        if self._limit is None:
            return await self.process(request)
        async with self._limit:
            return await self.process(request)

    async def _post_recorded(
        self, request: jina_pb2.DataRequestProto, recorder: Recorder
    ) -> jina_pb2.DataRequestProto:
        """``post``, with the request and its response handed to the recorder's writer thread
        (serialised here, as the walk changes the request and front-ends may reuse both)."""
        if not recorder.accepting():
            return await self._post_unrecorded(request)
        received = request.SerializeToString()
        started, clock = time.time(), time.perf_counter()
        response = await self._post_unrecorded(request)
        recorder.record(received, response.SerializeToString(), started, time.perf_counter() - clock)
        return response

    async def _post_unrecorded(self, request: jina_pb2.DataRequestProto) -> jina_pb2.DataRequestProto:
        if self._limit is None:
            return await self.process(request)
        async with self._limit:
            return await self.process(request)

    def stream(
        self,
        requests: AsyncIterator[jina_pb2.DataRequestProto],
        *,
        in_order: bool = False,
        prefetch: int = 0,
    ) -> AsyncIterator[jina_pb2.DataRequestProto]:
        """Answer a stream of requests concurrently, each exactly once (``prefetch``: per stream)."""
        return answer_stream(requests, self.post, on_error=self._error, in_order=in_order, prefetch=prefetch)

    @staticmethod
    def _error(request: jina_pb2.DataRequestProto, exc: Exception) -> jina_pb2.DataRequestProto:
        return error_response(request, exc, GATEWAY_NODE)

    def stream_doc(self, request: jina_pb2.SingleDocumentRequestProto) -> AsyncIterator[Message]:
        """Forward a call of a streaming endpoint (one document in, many out) to the Executor."""
        if len(self.nodes) != 1:
            raise NotStreamableError(
                f"streaming endpoints need a Flow with exactly one Executor; this one has {len(self.nodes)}"
            )
        return next(iter(self.nodes.values())).stream_doc(request)

    async def dry_run(self, deadline: float | None = None) -> jina_pb2.StatusProto:
        """SUCCESS when every replica of every Executor accepts a connection and every endpoint
        discovery succeeded; else names what failed.

        ``deadline``: the caller's seconds left. A blackholed replica never answers its health
        check, so it is waited for only part of that (at most ``_DRY_RUN_WAIT``): the caller
        then gets the answer naming it rather than its own DEADLINE_EXCEEDED naming nothing."""
        wait = _DRY_RUN_WAIT if deadline is None else min(_DRY_RUN_WAIT, deadline * 0.8)
        found = await asyncio.gather(*(node.unreachable(wait) for node in self.nodes.values()))
        down = [address for addresses in found for address in addresses]
        problems = [f"unreachable: {', '.join(down)}"] if down else []
        problems.extend(await self.discovery_problems())
        if problems:
            return error_status(ConnectionError("; ".join(problems)), GATEWAY_NODE)
        return jina_pb2.StatusProto(code=jina_pb2.StatusProto.SUCCESS)

    def status(self) -> jina_pb2.JinaInfoProto:
        """What ``_status`` and ``GET /status`` report: versions and environment."""
        return info_proto()

    def health(self) -> bool:
        """Serving: started and not closing."""
        return self._serving

    def endpoint_schemas(self) -> dict[str, dict[str, Any]]:
        """Per endpoint, the request schema of the first Executor serving it and the response
        schema of the last: what typed front-end routes validate and document."""
        schemas: dict[str, dict[str, Any]] = {}
        for endpoint in self.endpoints():
            serving = [
                node for node in self.nodes.values() if node.serves(endpoint) and node.schema_for(endpoint)
            ]
            if serving:
                first, last = serving[0].schema_for(endpoint), serving[-1].schema_for(endpoint)
                assert first is not None and last is not None
                schemas[endpoint] = {**first, "output": last["output"]}
        return schemas

    async def discovery_problems(self) -> list[str]:
        """The endpoint discoveries that failed, each tried once more first (the peer may be up now)."""
        failed = [node for node in self.nodes.values() if node.discovery_error]
        await asyncio.gather(*(node.discover() for node in failed))
        return [node.discovery_error for node in failed if node.discovery_error]

    def endpoints(self) -> list[str]:
        found: set[str] = set()
        for node in self.nodes.values():
            found.update(node.endpoints or ())
        return sorted(found)

    def _anyone_serves(self, endpoint: str) -> bool:
        """False only when some Executor declares endpoints and none of them serves this one;
        a Flow of pass-through Executors (no endpoints at all) forwards every request."""
        declared = [node for node in self.nodes.values() if node.endpoints is None or node.endpoints]
        return not declared or any(node.serves(endpoint) for node in declared)

    async def process(self, request: jina_pb2.DataRequestProto) -> jina_pb2.DataRequestProto:
        """Answer one request; never raises: any failure is the response's error status."""
        try:
            return await self._walk(request)
        except Exception as exc:  # a bug or an input nobody foresaw: still exactly one answer
            return error_response(request, exc, GATEWAY_NODE)

    async def _walk(self, request: jina_pb2.DataRequestProto) -> jina_pb2.DataRequestProto:
        endpoint = request.header.exec_endpoint or "/"
        del request.routes[:]
        request.routes.add(executor=GATEWAY_NODE, start_time=_now())
        if not self._anyone_serves(endpoint):
            error_status(
                NoEndpointError(
                    f"no Executor serves endpoint {endpoint!r}; served endpoints: {', '.join(self.endpoints())}"
                ),
                GATEWAY_NODE,
                request.header.status,
            )
            return request
        try:
            pattern = compile_target_executor(request.header.target_executor)
        except InvalidTargetExecutorError as exc:
            error_status(exc, GATEWAY_NODE, request.header.status)
            return request
        routes: dict[str, jina_pb2.RouteProto] = {}
        tasks: dict[str, asyncio.Task[jina_pb2.DataRequestProto]] = {}
        start: asyncio.Future[jina_pb2.DataRequestProto] = asyncio.get_running_loop().create_future()
        start.set_result(request)
        for name in self.order:
            node = self.nodes[name]
            upstream = [start if need == GATEWAY_NODE else tasks[need] for need in node.spec.needs] or [start]
            task = asyncio.create_task(self._run_node(node, upstream, endpoint, pattern, routes))
            tasks[name] = task
            if node.spec.floating:
                self._floating.add(task)
                task.add_done_callback(self._floating.discard)
        outputs = [await tasks[name] for name in self.outputs] if self.outputs else [request]
        response = first_error(outputs) or merge_requests(outputs)
        gateway_route = jina_pb2.RouteProto()
        gateway_route.CopyFrom(request.routes[0])
        gateway_route.end_time.CopyFrom(_now())
        del response.routes[:]
        response.routes.append(gateway_route)
        response.routes.extend(routes[name] for name in self.order if name in routes)
        return response

    async def _run_node(
        self,
        node: NodeClient,
        upstream: Sequence[asyncio.Future[jina_pb2.DataRequestProto]],
        endpoint: str,
        target: re.Pattern[str] | None,
        routes: dict[str, jina_pb2.RouteProto],
    ) -> jina_pb2.DataRequestProto:
        """One Executor's part of a request; never raises (else the task's error would be lost)."""
        inputs = [await future for future in upstream]
        failed = first_error(inputs)
        if failed is not None:
            return failed
        route = jina_pb2.RouteProto(executor=node.name, start_time=_now())
        try:
            if (target is not None and not target.match(node.name)) or not node.serves(endpoint):
                return merge_requests(inputs)
            requests = list(inputs) if node.spec.no_reduce else [merge_requests(inputs)]
            if node.spec.when:
                filtered = [self._filtered(request, node.spec.when) for request in requests]
                requests = [request for request, _ in filtered]  # possibly no documents left: sent anyway
            response = await node.send(requests, endpoint)
        except Exception as exc:  # unreachable (ExecutorUnavailableError), bad input or a bug: answer
            response = jina_pb2.DataRequestProto()
            response.CopyFrom(inputs[0])
            error_status(exc, node.name, response.header.status)
        route.end_time.CopyFrom(_now())
        route.status.CopyFrom(response.header.status)
        routes[node.name] = route
        response.routes.append(route)  # downstream, routes[-1] names the sender (``docs_map`` keys)
        return response

    @staticmethod
    def _filtered(
        request: jina_pb2.DataRequestProto, when: dict[str, Any]
    ) -> tuple[jina_pb2.DataRequestProto, int]:
        from docarray.utils.filter import filter_docs

        docs, devkit_peer = read_docs_and_codec(request, DocList[AnyDoc])
        kept = filter_docs(docs, when)
        return _with_docs(request, DocList[AnyDoc](kept), devkit_peer), len(kept)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for floating Executors to finish what they were sent."""
        if self._floating:
            await asyncio.wait(list(self._floating), timeout=timeout)

    async def close(self) -> None:
        self._serving = False
        await self.drain()
        await asyncio.gather(*(node.close() for node in self.nodes.values()))
