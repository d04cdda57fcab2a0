"""Running one DataRequest through one Executor endpoint.

This is the only place that calls user code. It decodes documents with the endpoint's
schema, calls the method with the arguments its signature asks for, and writes the result
back into the same protobuf, which becomes the response. Exceptions become an error
status naming the Executor; they never escape.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Sequence
from typing import Any

import pydantic
from docarray import BaseDoc, DocList
from google.protobuf import struct_pb2

from devkit.executor.base import Executor
from devkit.executor.endpoint import Endpoint
from devkit.proto import jina_pb2
from devkit.serve.batching import Batcher
from devkit.serve.hop_timing import LEDGER_KEY, HopTimer, timed_call, wants_ledger
from devkit.serve.sync_thread import SyncThread
from devkit.target import InvalidTargetExecutorError, compile_target_executor
from devkit.wire import RESULTS_KEY, error_status, parameters_of, read_docs_and_codec, write_docs


def parameters_key(request: jina_pb2.DataRequestProto) -> str:
    """The request's parameters as canonical JSON: requests batch together only when equal."""
    raw = parameters_of(request)
    raw.pop(RESULTS_KEY, None)
    raw.pop(LEDGER_KEY, None)
    return json.dumps(raw, sort_keys=True, default=str)


__all__ = ["ExecutorHandler"]

log = logging.getLogger("devkit.handler")

#: What ``next(generator, _EXHAUSTED)`` returns when a sync streaming endpoint is done.
_EXHAUSTED = object()


class InvalidDocumentsError(ValueError):
    """Documents that do not validate against the endpoint's request schema."""


class ExecutorHandler:
    """Serves DataRequests with one Executor instance.

    Sync endpoint methods (sync generators included, one item at a time) run on a single
    private thread so they never block the event loop and never run concurrently with each
    other (Executors are rarely thread-safe); async methods run on the loop. A request whose
    client gave up before its turn on the thread is not run (see :mod:`sync_thread`).
    """

    def __init__(
        self,
        executor: Executor,
        display_name: str,
        *,
        exit_on_exceptions: frozenset[str] = frozenset(),
        on_fatal: Callable[[BaseException], None] | None = None,
        tracer: Any = None,
        metrics: Any = None,
    ) -> None:
        self.executor = executor
        self.name = str(executor.metas.name)
        self.display_name = display_name
        self._pool = SyncThread(f"devkit-{self.name}")
        self._batcher = Batcher(display_name)
        self._exit_on = exit_on_exceptions
        self._on_fatal = on_fatal
        #: requests being answered; a reload closes a replaced handler once this is 0
        self.active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._tracer = tracer  # None: tracing off, and no span is ever created
        self._metrics = metrics  # None: no metric recorded (jina_process_request_seconds, ...)

    def _is_fatal(self, exc: BaseException) -> bool:
        """Whether ``exc`` (or one of its base classes) is listed in ``exit_on_exceptions``."""
        return bool(self._exit_on) and any(klass.__name__ in self._exit_on for klass in type(exc).__mro__)

    @property
    def skipped(self) -> int:
        """Requests not run because their client gave up while they waited for the thread."""
        return self._pool.skipped

    def flush_batches(self) -> None:
        """The server is stopping: run queued dynamic batches now instead of waiting for them to fill."""
        self._batcher.flush_now()

    def close(self) -> None:
        self._pool.shutdown()
        self.executor.close()

    # -- requests --------------------------------------------------------------------------
    async def handle(
        self, requests: Sequence[jina_pb2.DataRequestProto], deadline: float | None = None
    ) -> jina_pb2.DataRequestProto:
        """Answer ``requests[0]`` (the others are merge inputs: ``docs_matrix``/``docs_map``).

        ``deadline`` (a :func:`time.monotonic` value, the client's) skips a sync call still
        queued when it passes.
        """
        timer = HopTimer() if wants_ledger(requests[0]) else None  # a load generator asks
        self._begin()
        try:
            response = await self._handle(requests, deadline, timer)
            if timer is not None:
                timer.report(response, self.display_name)
            return response
        finally:
            self._end()

    def _begin(self) -> None:
        self.active += 1
        self._idle.clear()

    def _end(self) -> None:
        self.active -= 1
        if not self.active:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no request or stream is being answered (a reload retires this handler then)."""
        await self._idle.wait()

    async def _handle(
        self,
        requests: Sequence[jina_pb2.DataRequestProto],
        deadline: float | None,
        timer: HopTimer | None = None,
    ) -> jina_pb2.DataRequestProto:
        response = requests[0]
        try:
            # Only the pattern's validity is checked here, not whether it matches this
            # Executor's name: a gateway forwards the header unchanged, also to external
            # Executors serving under a name of their own, and has already routed by it.
            compile_target_executor(response.header.target_executor)
        except InvalidTargetExecutorError as exc:
            error_status(exc, self.name, response.header.status)
            return response
        endpoint_name = response.header.exec_endpoint or "/"
        endpoint = self.executor.endpoint_for(endpoint_name)
        if endpoint is None:
            if self.executor.requests:  # it serves other endpoints: asking for this one is a mistake
                served = ", ".join(sorted(self.executor.requests))
                error_status(
                    LookupError(
                        f"{self.name!r} does not serve endpoint {endpoint_name!r}; it serves {served}"
                    ),
                    self.name,
                    response.header.status,
                )
            return response  # an Executor without any binding passes requests through unchanged
        try:
            if self._tracer is None:
                await self._run(endpoint, endpoint_name, requests, response, deadline, timer)
            else:
                with self._tracer.start_as_current_span(endpoint_name) as span:
                    span.set_attribute("jina.executor", self.name)
                    await self._run(endpoint, endpoint_name, requests, response, deadline, timer)
        except asyncio.CancelledError:
            log.debug("%s: a %r request was abandoned by its client", self.display_name, endpoint_name)
            raise
        except Exception as exc:
            error_status(exc, self.name, response.header.status)
            if self._on_fatal is not None and self._is_fatal(exc):
                self._on_fatal(exc)  # this request is still answered; the worker then shuts down
        return response

    async def _run(
        self,
        endpoint: Endpoint,
        endpoint_name: str,
        requests: Sequence[jina_pb2.DataRequestProto],
        response: jina_pb2.DataRequestProto,
        deadline: float | None,
        timer: HopTimer | None = None,
    ) -> None:
        docs, devkit_peer = self._decode(response, endpoint, endpoint_name)  # answer in the sender's encoding
        if timer is not None:
            timer.decoded = time.monotonic_ns()
        kwargs: dict[str, Any] = {}
        if endpoint.wants("parameters"):
            kwargs["parameters"] = self._parameters(response, endpoint)
        if len(requests) == 1:  # reduced upstream (no_reduce=False): both are None, as the docs say
            kwargs.update({name: None for name in ("docs_matrix", "docs_map") if endpoint.wants(name)})
        elif endpoint.wants("docs_matrix") or endpoint.wants("docs_map"):
            # Decode each request once; the first one's DocList *is* ``docs`` (as in jina).
            matrix = [docs, *(self._decode(r, endpoint, endpoint_name)[0] for r in requests[1:])]
            if endpoint.wants("docs_matrix"):
                kwargs["docs_matrix"] = matrix
            if endpoint.wants("docs_map"):
                kwargs["docs_map"] = {
                    (r.routes[-1].executor if r.routes else str(i)): decoded
                    for i, (r, decoded) in enumerate(zip(requests, matrix, strict=True))
                }
        if endpoint.wants("tracing_context"):  # the endpoint's span, as jina passes it
            kwargs["tracing_context"] = None if self._tracer is None else _current_context()
        if endpoint.wants("exec_endpoint") and "exec_endpoint" in endpoint.accepts:
            kwargs["exec_endpoint"] = endpoint_name

        batching = self.executor.batching_for(endpoint_name) if len(requests) == 1 and docs else None
        if batching is None:
            out_docs, results = await self._call_batch(endpoint, kwargs, docs, deadline, endpoint_name, timer)
        else:  # wait for other requests' documents; the batch runs for all of them (no deadline)
            out_docs, results = await self._batcher.submit(
                endpoint_name,
                parameters_key(response),
                batching,
                docs,
                lambda batch: self._call_batch(endpoint, kwargs, batch, None, endpoint_name),
            )
        if timer is not None:
            timer.called = time.monotonic_ns()
        write_docs(response, out_docs, devkit_peer=devkit_peer)
        if results is not None:
            self._store_results(response, results)

    async def _call_batch(
        self,
        endpoint: Endpoint,
        kwargs: dict[str, Any],
        docs: DocList[Any],
        deadline: float | None,
        endpoint_name: str = "",
        timer: HopTimer | None = None,
    ) -> tuple[DocList[Any], dict[str, Any] | None]:
        """Run the endpoint on ``docs`` (one request's, or a dynamic batch of several)."""
        began = 0.0 if self._metrics is None else time.perf_counter()
        if endpoint.single_doc:
            outcome = await self._call_per_doc(endpoint, docs, kwargs, deadline, timer)
        else:
            call_kwargs = {**kwargs, "docs": docs} if endpoint.wants("docs") else kwargs
            returned = await self._call(endpoint, call_kwargs, deadline, timer)
            outcome = self._interpret(endpoint, returned, docs)
        if self._metrics is not None:  # jina's: the method call only, per call (a batch counts once)
            record = self._metrics.record
            record("jina_process_request_seconds", time.perf_counter() - began, self.name, endpoint_name)
            record("jina_document_processed", len(docs), self.name, endpoint_name)
        return outcome

    def _decode(
        self, request: jina_pb2.DataRequestProto, endpoint: Endpoint, name: str
    ) -> tuple[DocList[Any], bool]:
        """The documents, and whether they came in devkit's codec (one read of the field)."""
        try:
            return read_docs_and_codec(request, endpoint.request_doclist)
        except (pydantic.ValidationError, ValueError, TypeError) as exc:
            raise InvalidDocumentsError(
                f"documents sent to {self.name!r} endpoint {name!r} do not match its request schema "
                f"{endpoint.request_schema.__name__}: {exc}"
            ) from exc

    def _parameters(self, request: jina_pb2.DataRequestProto, endpoint: Endpoint) -> Any:
        raw = parameters_of(request)
        raw.pop(RESULTS_KEY, None)
        raw.pop(LEDGER_KEY, None)
        prefix = f"{self.name}__"
        mine = {key[len(prefix) :]: value for key, value in raw.items() if key.startswith(prefix)}
        params = {key: value for key, value in raw.items() if "__" not in key.strip("_")}
        params.update(mine)
        if endpoint.parameters_model is not None:
            return endpoint.parameters_model(**params)
        return params

    async def _call(
        self,
        endpoint: Endpoint,
        kwargs: dict[str, Any],
        deadline: float | None,
        timer: HopTimer | None = None,
    ) -> Any:
        if endpoint.is_async:
            if timer is None:
                return await endpoint.fn(self.executor, **kwargs)
            timer.method_start = time.monotonic_ns()
            try:
                return await endpoint.fn(self.executor, **kwargs)
            finally:
                timer.method_end = time.monotonic_ns()
        if self._tracer is None:
            call = lambda: endpoint.fn(self.executor, **kwargs)  # noqa: E731
        else:  # the thread sees the endpoint's span: self.tracer's spans become its children
            context = contextvars.copy_context()
            call = lambda: context.run(endpoint.fn, self.executor, **kwargs)  # noqa: E731
        if timer is not None:
            call = timed_call(call, timer)
        return await self._pool.run(call, key=endpoint.method_name, deadline=deadline)

    async def _call_per_doc(
        self,
        endpoint: Endpoint,
        docs: DocList[Any],
        kwargs: dict[str, Any],
        deadline: float | None,
        timer: HopTimer | None = None,
    ) -> tuple[DocList[Any], dict[str, Any] | None]:
        if endpoint.is_generator:
            raise TypeError(
                f"endpoint {endpoint.method_name!r} of {self.name!r} streams documents; "
                "call it with Client.stream_doc, not post"
            )
        if endpoint.is_async:
            if timer is not None:
                timer.method_start = time.monotonic_ns()
            returned = await asyncio.gather(*(endpoint.fn(self.executor, doc=doc, **kwargs) for doc in docs))
            if timer is not None:
                timer.method_end = time.monotonic_ns()
        else:
            call = lambda: [endpoint.fn(self.executor, doc=doc, **kwargs) for doc in docs]  # noqa: E731
            returned = await self._pool.run(
                call if timer is None else timed_call(call, timer),
                key=f"{endpoint.method_name}/per-doc",
                deadline=deadline,
            )
        out: list[BaseDoc] = []
        results: dict[str, Any] | None = None
        for doc, value in zip(docs, returned, strict=True):
            if isinstance(value, BaseDoc):
                out.append(value)
            elif value is None or isinstance(value, dict):
                out.append(doc)
                if isinstance(value, dict):
                    results = {**(results or {}), **value}
            else:
                raise TypeError(
                    f"{endpoint.method_name!r} returned {type(value).__name__}; "
                    "a single-document endpoint returns a document, a dict or None"
                )
        schema = type(out[0]) if out else endpoint.response_schema
        return DocList[schema](out), results  # type: ignore[valid-type]

    def _interpret(
        self, endpoint: Endpoint, returned: Any, docs: DocList[Any]
    ) -> tuple[DocList[Any], dict[str, Any] | None]:
        if returned is None:
            return docs, None
        if isinstance(returned, DocList):
            return returned, None
        if isinstance(returned, dict):
            return docs, returned
        if isinstance(returned, BaseDoc):
            return DocList[type(returned)]([returned]), None  # type: ignore[misc,operator]
        raise TypeError(
            f"{endpoint.method_name!r} returned {type(returned).__name__}; "
            "an endpoint returns a DocList, a dict (results) or None (documents changed in place)"
        )

    def _store_results(self, response: jina_pb2.DataRequestProto, results: dict[str, Any]) -> None:
        struct = struct_pb2.Struct()
        struct.update({self.display_name: results})
        response.parameters.get_or_create_struct(RESULTS_KEY).MergeFrom(struct)

    # -- streaming -------------------------------------------------------------------------
    async def stream(self, endpoint_name: str, doc_request: Any) -> AsyncIterator[BaseDoc]:
        """Yield the documents a streaming endpoint produces for one input document.

        A stream counts as an active request until it ends, so a reload closes the replaced
        Executor only after its streams too have finished.
        """
        self._begin()
        try:
            async with contextlib.aclosing(self._stream(endpoint_name, doc_request)) as items:
                async for item in items:
                    yield item
        finally:
            self._end()

    async def _stream(self, endpoint_name: str, doc_request: Any) -> AsyncGenerator[BaseDoc, None]:
        endpoint = self.executor.endpoint_for(endpoint_name)
        if endpoint is None or not endpoint.is_generator:
            raise LookupError(f"{self.name!r} has no streaming endpoint {endpoint_name!r}")
        doc = endpoint.request_schema.from_protobuf(doc_request)
        if endpoint.is_async:
            agen = endpoint.fn(self.executor, doc=doc)
            try:
                async for item in agen:
                    yield item
            finally:
                with contextlib.suppress(Exception):
                    await agen.aclose()
            return
        # a sync generator advances on the private thread, one item per hop, so a generator
        # that blocks between items holds up neither the loop nor other requests' async work
        generator: Generator[Any, None, None] = endpoint.fn(self.executor, doc=doc)
        key = f"{endpoint.method_name}/next"
        exhausted = False
        try:
            while (
                item := await self._pool.run(lambda: next(generator, _EXHAUSTED), key=key)
            ) is not _EXHAUSTED:
                yield item
            exhausted = True
        finally:
            if not exhausted and self._pool.open:
                with contextlib.suppress(Exception):  # runs the generator's finally blocks, off the loop
                    await self._pool.run(generator.close)


def _current_context() -> Any:
    from opentelemetry import context

    return context.get_current()
