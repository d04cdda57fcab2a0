"""The gRPC layer: a proxy that forwards raw messages of any method and can answer itself.

A generic handler serves every method as stream-stream with identity (de)serialisers: on
the wire a unary call is a stream of one message, so one forwarding path fits all four
shapes, and messages stay bytes unless a fault needs to look inside (``where=``). Data
requests (the jina data RPCs) are numbered per fault for schedules; other calls (health,
endpoint discovery, info) are forwarded untouched unless the edge is partitioned.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from docarray import DocList
from docarray.base_doc import AnyDoc

from devkit.orchestrate.addressing import Edge
from devkit.proto import jina_pb2
from devkit.serve.server import CHANNEL_OPTIONS
from devkit.testing.faults.edge import Layer
from devkit.testing.faults.faults import Fail, Latency
from devkit.testing.faults.link import Link
from devkit.wire import doc_count, read_docs

__all__ = ["DATA_METHODS", "GrpcLink"]

#: Methods whose messages are data requests, and how to read their documents.
DATA_METHODS = {
    "/jina.JinaSingleDataRequestRPC/process_single_data": "single",
    "/jina.JinaDataRequestRPC/process_data": "list",
    "/jina.JinaRPC/Call": "single",
    "/jina.JinaSingleDocumentRequestRPC/stream_doc": "document",
}

#: Headers grpc sets itself; forwarding them as metadata would be rejected.
_RESERVED = ("user-agent", "te", "content-type", "grpc-")


def _documents(kind: str, raw: bytes) -> DocList[Any]:
    if kind == "list":
        requests = jina_pb2.DataRequestListProto.FromString(raw).requests
        docs = DocList[AnyDoc]()
        for request in requests:
            docs.extend(read_docs(request, DocList[AnyDoc]))
        return docs
    if kind == "document":
        document = jina_pb2.SingleDocumentRequestProto.FromString(raw).document
        return DocList[AnyDoc]([AnyDoc.from_protobuf(document)])
    return read_docs(jina_pb2.DataRequestProto.FromString(raw), DocList[AnyDoc])


def _count(kind: str, raw: bytes) -> int:
    """Documents in a message; counted from the protobuf, decoded only when JSON-encoded."""
    try:
        if kind == "document":
            return 1
        if kind == "list":
            return sum(
                doc_count(request) for request in jina_pb2.DataRequestListProto.FromString(raw).requests
            )
        return doc_count(jina_pb2.DataRequestProto.FromString(raw))
    except Exception:  # a message the proxy cannot read is forwarded anyway, uncounted
        return 0


@dataclass
class _Verdict:
    code: grpc.StatusCode
    details: str


class GrpcLink(Link):
    """A gRPC proxy for one edge, on the network's event loop."""

    layer: Layer = "grpc"

    def __init__(self, edge: Edge, upstream: str, seed: int) -> None:
        super().__init__(edge, upstream, seed)
        self._server: grpc.aio.Server | None = None
        self._channel: grpc.aio.Channel | None = None

    async def start(self) -> None:
        self._channel = grpc.aio.insecure_channel(self.upstream, options=CHANNEL_OPTIONS)
        self._server = grpc.aio.server(options=[*CHANNEL_OPTIONS, ("grpc.so_reuseport", 0)])
        self._server.add_generic_rpc_handlers((_Forwarder(self),))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(0)
            self._server = None
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    # -- deciding -------------------------------------------------------------------------
    async def judge(self, method: str, raw: bytes) -> _Verdict | None:
        """Count one message; sleep for latency faults; return a failure to answer, if any."""
        kind = DATA_METHODS.get(method)
        if kind is None:
            return None
        self.count("requests")
        docs: DocList[Any] | None = None
        faults: list[Latency | Fail] = [*self.faults_of(Latency), *self.faults_of(Fail)]
        for fault in faults:
            number = fault.next_number()
            when = fault.when
            if when is not None and not when.fires(number, random.Random(f"{fault.seed_key}/{number}")):
                continue
            if isinstance(fault, Fail) and fault.where is not None:
                if docs is None:
                    docs = _documents(kind, raw)
                from docarray.utils.filter import filter_docs

                if not len(filter_docs(docs, fault.where)):
                    continue
            if not fault.take():
                continue
            if isinstance(fault, Latency):
                self.injected(fault)
                await asyncio.sleep(fault.delay(self.rng))
                continue
            self.injected(fault, fault.code.name)
            return _Verdict(fault.code, fault.details)
        self.count("docs_in", _count(kind, raw))
        return None

    def partition_verdict(self) -> _Verdict | None:
        partition = self.partition()
        if partition is None:
            return None
        self.injected(partition, grpc.StatusCode.UNAVAILABLE.name)
        return _Verdict(
            grpc.StatusCode.UNAVAILABLE, f"edge {self.edge.source} -> {self.edge.target} is partitioned"
        )

    # -- forwarding -----------------------------------------------------------------------
    async def forward(
        self, method: str, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        self.count("calls")
        verdict = self.partition_verdict()
        if verdict is not None:
            await context.abort(verdict.code, verdict.details)
        assert self._channel is not None
        remaining = context.time_remaining()
        timeout = remaining if remaining is not None and remaining < 1e8 else None
        metadata = tuple(
            (key, value)
            for key, value in (context.invocation_metadata() or ())
            if not key.startswith(_RESERVED)
        )
        call = self._channel.stream_stream(method)(timeout=timeout, metadata=metadata or None)
        pump = _Pump(self, method, requests, call)
        pumping = asyncio.create_task(pump.run())
        kind = DATA_METHODS.get(method)
        try:
            while True:
                try:
                    response = await call.read()
                except grpc.aio.AioRpcError as exc:
                    await context.abort(exc.code(), exc.details() or "")
                except asyncio.CancelledError:
                    if pump.verdict is None:
                        raise
                    response = grpc.aio.EOF
                if response is grpc.aio.EOF:
                    break
                if kind is not None:
                    self.count("docs_out", _count(kind, response))
                yield response
            if pump.verdict is not None:
                await context.abort(pump.verdict.code, pump.verdict.details)
        finally:
            pumping.cancel()
            call.cancel()
            with contextlib.suppress(BaseException):
                await pumping


class _Pump:
    """Moves request messages upstream, through the link's faults."""

    def __init__(self, link: GrpcLink, method: str, requests: AsyncIterator[bytes], call: Any) -> None:
        self.link = link
        self.method = method
        self.requests = requests
        self.call = call
        self.verdict: _Verdict | None = None

    async def run(self) -> None:
        try:
            async for raw in self.requests:
                verdict = await self.link.judge(self.method, raw)
                if verdict is not None:
                    self.verdict = verdict
                    self.call.cancel()
                    return
                await self.call.write(raw)
            await self.call.done_writing()
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError):
            pass  # the call ended; its reader reports why


class _Forwarder(grpc.GenericRpcHandler):
    def __init__(self, link: GrpcLink) -> None:
        self._link = link

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method

        # grpc.aio needs an async generator function to serve a stream (a plain function
        # returning an async generator is taken for a sync iterator)
        async def behavior(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
            async for response in self._link.forward(method, requests, context):
                yield response

        return grpc.stream_stream_rpc_method_handler(behavior)
