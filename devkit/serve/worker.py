"""The gRPC servicer that hosts one Executor, and the coroutine that serves it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2

from devkit.executor.base import Executor
from devkit.observability import NOOP_TRACER, start_telemetry
from devkit.proto import jina_pb2
from devkit.serve.answers import error_response
from devkit.serve.environment import hold_env
from devkit.serve.handler import ExecutorHandler
from devkit.serve.info import info_proto
from devkit.serve.local import LocalWorker
from devkit.serve.reload import Reloader
from devkit.serve.server import GrpcServer, serve_until_stopped, start_grpc_server
from devkit.serve.services import add_jina_services
from devkit.serve.streaming import answer_stream, stream_options
from devkit.spec.executor_yaml import build_executor
from devkit.spec.models import WorkerSpec
from devkit.wire import error_status

log = logging.getLogger("devkit.worker")

__all__ = ["WorkerServicer", "endpoint_schemas", "run_worker"]


def endpoint_schemas(executor: Executor) -> dict[str, Any]:
    """Per-endpoint schemas in the shape jina's endpoint discovery uses."""
    schemas: dict[str, Any] = {}
    for name, endpoint in executor.requests.items():
        schemas[name] = {
            "input": {
                "name": endpoint.request_schema.__name__,
                "model": endpoint.request_schema.model_json_schema(),
            },
            "output": {
                "name": endpoint.response_schema.__name__,
                "model": endpoint.response_schema.model_json_schema(),
            },
            "is_generator": endpoint.is_generator,
            "is_singleton_doc": endpoint.single_doc,
            "parameters": {
                "name": endpoint.parameters_model.__name__ if endpoint.parameters_model else None,
                "model": endpoint.parameters_model.model_json_schema() if endpoint.parameters_model else None,
            },
        }
    return schemas


def _deadline(context: grpc.aio.ServicerContext) -> float | None:
    """The call's deadline as a :func:`time.monotonic` value (None: the client set none)."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


class WorkerServicer:
    """Implements every jina RPC a worker answers, on top of an :class:`ExecutorHandler`."""

    def __init__(self, handler: ExecutorHandler) -> None:
        self.handler = handler
        self._endpoints = self._build_endpoints_proto()

    def _build_endpoints_proto(self) -> jina_pb2.EndpointsProto:
        proto = jina_pb2.EndpointsProto()
        proto.endpoints.extend(self.handler.executor.requests)
        struct = struct_pb2.Struct()
        json_format.ParseDict(endpoint_schemas(self.handler.executor), struct)
        proto.schemas.CopyFrom(struct)
        return proto

    def replace_handler(self, handler: ExecutorHandler) -> ExecutorHandler:
        """Serve new requests with ``handler`` (a reloaded Executor); returns the old one, whose
        running requests finish on it."""
        old, self.handler = self.handler, handler
        self._endpoints = self._build_endpoints_proto()
        return old

    def register(self, server: grpc.aio.Server) -> list[str]:
        return add_jina_services(self, server)

    def _error(self, request: jina_pb2.DataRequestProto, exc: Exception) -> jina_pb2.DataRequestProto:
        return error_response(request, exc, self.handler.name)

    async def process_single_data(
        self, request: jina_pb2.DataRequestProto, context: grpc.aio.ServicerContext
    ) -> jina_pb2.DataRequestProto:
        try:
            return await self.handler.handle((request,), _deadline(context))
        except Exception as exc:
            return self._error(request, exc)

    async def process_data(
        self, request: jina_pb2.DataRequestListProto, context: grpc.aio.ServicerContext
    ) -> jina_pb2.DataRequestProto:
        if not request.requests:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "process_data needs at least one request")
        try:
            return await self.handler.handle(list(request.requests), _deadline(context))
        except Exception as exc:
            return self._error(request.requests[0], exc)

    async def Call(
        self, request_iterator: AsyncIterator[jina_pb2.DataRequestProto], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[jina_pb2.DataRequestProto]:
        deadline = _deadline(context)

        async def handle(request: jina_pb2.DataRequestProto) -> jina_pb2.DataRequestProto:
            return await self.handler.handle((request,), deadline)

        # jina's client asks for ordered answers / a prefetch window through metadata
        answers = answer_stream(request_iterator, handle, on_error=self._error, **stream_options(context))
        async for response in answers:
            yield response

    async def stream_doc(
        self, request: jina_pb2.SingleDocumentRequestProto, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[jina_pb2.SingleDocumentRequestProto]:
        endpoint = request.header.exec_endpoint or "/"
        try:
            async for doc in self.handler.stream(endpoint, request.document):
                reply = jina_pb2.SingleDocumentRequestProto()
                reply.header.CopyFrom(request.header)
                reply.document.CopyFrom(doc.to_protobuf())
                yield reply
        except LookupError as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except Exception as exc:  # the error travels in-band, as for data requests
            reply = jina_pb2.SingleDocumentRequestProto()
            reply.header.CopyFrom(request.header)
            error_status(exc, self.handler.name, reply.header.status)
            yield reply

    async def endpoint_discovery(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> jina_pb2.EndpointsProto:
        return self._endpoints

    async def _status(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> jina_pb2.JinaInfoProto:
        return info_proto()

    async def dry_run(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> jina_pb2.StatusProto:
        return jina_pb2.StatusProto(code=jina_pb2.StatusProto.SUCCESS)


def replica_name(spec: WorkerSpec) -> str:
    """jina's name for one copy of an Executor: ``encoder/rep-0``, ``encoder/shard-1/rep-0``."""
    shard = f"/shard-{spec.shard_id}" if spec.shards > 1 else ""
    return f"{spec.name}{shard}/rep-{spec.replica_id}"


async def run_worker(spec: WorkerSpec, on_ready: Callable[[int], None], stop: asyncio.Event) -> None:
    """Build the Executor, serve it until ``stop`` is set, then drain and close it."""
    restore_env = hold_env(spec.executor.env, spec.display_name)
    runtime_args = {
        "name": replica_name(spec),
        "replicas": spec.replicas,
        "shards": spec.shards,
        "shard_id": spec.shard_id,
        "replica_id": spec.replica_id,
        "workspace": spec.workspace or spec.executor.workspace,
        "py_modules": list(spec.executor.py_modules),
    }
    telemetry = start_telemetry(spec.telemetry, replica_name(spec), spec.host)
    meter = None if telemetry is None or telemetry.metrics is None else telemetry.metrics.meter
    if meter is not None:
        runtime_args["meter"] = meter  # self.meter, from the Executor's __init__ on
    try:
        executor = build_executor(spec.executor, runtime_args)
    except BaseException:
        restore_env()
        if telemetry is not None:
            telemetry.close()
        raise

    def exit_after_fatal(exc: BaseException) -> None:
        log.error(
            "%s raised %s, listed in exit_on_exceptions: shutting down", spec.display_name, type(exc).__name__
        )
        asyncio.get_running_loop().call_soon(stop.set)

    def new_handler(executor: Executor) -> ExecutorHandler:
        executor.tracer = NOOP_TRACER if telemetry is None or telemetry.tracer is None else telemetry.tracer
        executor.metrics = None if telemetry is None else telemetry.metrics  # self.monitor(...) records here
        return ExecutorHandler(
            executor,
            spec.display_name,
            exit_on_exceptions=frozenset(spec.exit_on_exceptions),
            on_fatal=exit_after_fatal,
            tracer=None if telemetry is None else telemetry.tracer,
            metrics=None if telemetry is None else telemetry.metrics,
        )

    servicer = WorkerServicer(new_handler(executor))
    try:
        reloader = await _start_reloader(spec, executor, runtime_args, servicer, new_handler)
    except BaseException:
        servicer.handler.close()
        restore_env()
        if telemetry is not None:
            telemetry.close()
        raise

    async def flush_batches_when_stopping() -> None:
        await stop.wait()  # queued dynamic batches run now: the drain must not wait for their timeout
        servicer.handler.flush_batches()

    flusher = asyncio.create_task(flush_batches_when_stopping())
    local: list[LocalWorker] = []

    async def close() -> None:
        for worker in local:
            await worker.close()
        flusher.cancel()
        if reloader is not None:
            await reloader.close()
        servicer.handler.close()
        restore_env()
        if telemetry is not None:
            telemetry.close()

    async def start() -> GrpcServer:
        server = await start_grpc_server(
            servicer.register,
            host=spec.host,
            port=spec.port,
            what=f"Executor {spec.display_name!r}",
            interceptors=() if telemetry is None else telemetry.server_interceptors(),
        )
        if telemetry is None:  # an observed worker is reached over gRPC, through its interceptors
            local.append(LocalWorker(servicer, server.gate, spec.host, server.port))
            local[0].register()  # a gateway in this process may now skip the gRPC leg
        return server

    await serve_until_stopped(start(), on_ready, stop, cleanup=close)


class _ReloadingWorker:
    """Swaps reloaded Executors into a worker and retires the replaced ones (``reload=True``)."""

    def __init__(self, servicer: WorkerServicer, new_handler: Callable[[Executor], ExecutorHandler]) -> None:
        self._servicer = servicer
        self._new_handler = new_handler
        self._retiring: set[asyncio.Task[None]] = set()
        self.reloader: Reloader | None = None

    async def swap(self, executor: Executor) -> None:
        old = self._servicer.replace_handler(self._new_handler(executor))
        task = asyncio.create_task(self._retire(old))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    @staticmethod
    async def _retire(old: ExecutorHandler) -> None:
        old.flush_batches()
        await old.wait_idle()  # requests that started on the old instance finish there
        await asyncio.to_thread(old.close)

    async def close(self) -> None:
        if self.reloader is not None:
            await asyncio.to_thread(self.reloader.stop)
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)


async def _start_reloader(
    spec: WorkerSpec,
    executor: Executor,
    runtime_args: dict[str, Any],
    servicer: WorkerServicer,
    new_handler: Callable[[Executor], ExecutorHandler],
) -> _ReloadingWorker | None:
    """With ``reload=True``, watch the Executor's files before the worker reports ready."""
    if not spec.executor.reload:
        return None
    worker = _ReloadingWorker(servicer, new_handler)
    reloader = Reloader(spec.executor, executor, runtime_args, worker.swap, asyncio.get_running_loop())
    await asyncio.to_thread(reloader.start)
    worker.reloader = reloader
    return worker
