"""The asynchronous client: ``AsyncClient(host, port, protocol)`` and its ``post``.

It does the work on the caller's event loop; :class:`devkit.client.sync_client.Client` is
the synchronous facade over it (``Client(..., asyncio=True)`` returns one of these).
Everything a post does besides moving bytes lives here, once for every protocol:
batching, the retry policy, ordering, callbacks. The bytes move through a
:class:`~devkit.client.transport.Transport` (grpc, http or websocket).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, NoReturn, cast

from docarray import BaseDoc
from pydantic import BaseModel

from devkit.client.address import Address, parse_address
from devkit.client.delivery import (
    Callback,
    PostOptions,
    deliver,
    doclist_type_of,
    in_order,
    makes_one_request,
)
from devkit.client.inputs import batches, is_replayable
from devkit.client.response import Response
from devkit.client.transport import ConnectionSettings, OutgoingRequest, Transport, open_transport
from devkit.observability import TelemetrySpec, start_telemetry
from devkit.retry import RetryPolicy
from devkit.wire import new_request_id

__all__ = ["AsyncClient"]


def endpoint_path(on: str) -> str:
    return on if on.startswith("/") else f"/{on}"


def fail(transport: Transport, exc: BaseException) -> NoReturn:
    """Raise devkit's error for ``exc``, chained to it (``exc`` itself when already devkit's)."""
    mapped = transport.map_error(exc)
    if mapped is exc:
        raise exc
    raise mapped from exc


class AsyncClient:
    """Sends requests to a Deployment or Flow from the caller's event loop."""

    def __init__(
        self,
        host: str = "0.0.0.0",
        port: int | None = None,
        protocol: str = "grpc",
        tls: bool = False,
        *,
        prefetch: int = 1000,
        metadata: dict[str, str] | None = None,
        grpc_channel_options: dict[str, Any] | None = None,
        observers: list[Callback] | None = None,
        show_progress: bool = False,
        tracing: bool = False,
        traces_exporter_host: str | None = None,
        traces_exporter_port: int | None = None,
    ) -> None:
        self.address: Address = parse_address(host, port, protocol, tls)
        #: draw a progress bar on stderr while posting (``post(show_progress=...)`` overrides it)
        self.show_progress = show_progress
        #: tracing=True: a CLIENT span per call, its context sent along (W3C traceparent)
        self.telemetry = start_telemetry(
            TelemetrySpec(
                tracing=tracing,
                traces_exporter_host=traces_exporter_host,
                traces_exporter_port=traces_exporter_port,
            ),
            "client",
        )
        #: called with every response, successful or not, before callbacks (e.g. test recorders)
        self.observers: list[Callback] = observers if observers is not None else []
        self.settings = ConnectionSettings(
            metadata=dict(metadata or {}),
            grpc_channel_options=grpc_channel_options,
            prefetch=prefetch,
            interceptors=() if self.telemetry is None else tuple(self.telemetry.client_interceptors()),
            tracer=None if self.telemetry is None else self.telemetry.tracer,
        )
        self._transport: Transport | None = None

    @property
    def prefetch(self) -> int:
        return self.settings.prefetch

    @property
    def known_devkit_peer(self) -> bool:
        """Whether an earlier call found a devkit server here (asks nothing itself)."""
        return self._transport is not None and self._transport.known_devkit_peer

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = open_transport(self.address, self.settings)
        return self._transport

    # -- posting ---------------------------------------------------------------------------
    async def post(
        self,
        on: str,
        inputs: Any = None,
        parameters: dict[str, Any] | BaseModel | None = None,
        *,
        return_type: Any = None,
        request_size: int = 100,
        on_done: Callback | None = None,
        on_error: Callback | None = None,
        on_always: Callback | None = None,
        continue_on_error: bool = False,
        prefetch: int | None = None,
        timeout: float | None = None,
        results_in_order: bool = False,
        stream: bool = True,
        return_responses: bool = False,
        target_executor: str | None = None,
        max_attempts: int = 1,
        initial_backoff: float = 0.5,
        max_backoff: float = 2.0,
        backoff_multiplier: float = 1.5,
        show_progress: bool | None = None,
    ) -> AsyncIterator[Any]:
        """Yield, per request, its documents (``return_type``) or its :class:`Response`."""
        options = PostOptions(
            return_type=return_type,
            request_size=request_size,
            on_done=on_done,
            on_error=on_error,
            on_always=on_always,
            continue_on_error=continue_on_error,
            prefetch=prefetch,
            timeout=timeout,
            results_in_order=results_in_order,
            stream=stream,
            return_responses=return_responses,
            target_executor=target_executor,
            max_attempts=max_attempts,
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            backoff_multiplier=backoff_multiplier,
            show_progress=self.show_progress if show_progress is None else show_progress,
        )
        async for response in self.responses(on, inputs, parameters, options):
            yield response if return_responses else response.docs

    async def responses(
        self, on: str, inputs: Any, parameters: dict[str, Any] | BaseModel | None, options: PostOptions
    ) -> AsyncIterator[Response]:
        """Send the requests; yield each successful (or tolerated) response once."""
        doclist_type = doclist_type_of(options.return_type)
        endpoint = endpoint_path(on)
        retry = options.retry
        transport = self.transport
        devkit_peer = await self._prepare(retry)
        order: dict[str, int] = {}

        async def requests() -> AsyncIterator[OutgoingRequest]:
            async for docs in batches(inputs, options.request_size):
                request = OutgoingRequest(
                    new_request_id(), endpoint, docs, parameters, options.target_executor
                )
                order[request.request_id] = len(order)
                yield request

        one = makes_one_request(inputs, options.request_size)
        # One request to a devkit peer goes as a unary call: opening a stream for it costs
        # about twice as much (extra round trips and tasks on both sides) for the same result.
        # A traced client always streams, so its trace starts with jina's ``/jina.JinaRPC/Call``.
        unary = (
            not transport.streams or not options.stream or (devkit_peer and one and self.telemetry is None)
        )
        window = options.prefetch or self.prefetch
        raw: AsyncGenerator[Response, None] = (
            self._send_each(requests, doclist_type, 1 if one else window, options.timeout, retry)
            if unary
            else self._send_stream(
                requests, doclist_type, window, options.timeout, retry, is_replayable(inputs)
            )
        )
        if options.results_in_order:
            raw = in_order(raw, order)
        if options.show_progress:
            # rich is imported only when a bar is asked for
            from devkit.client.progress import request_count, with_progress

            raw = with_progress(raw, endpoint, request_count(inputs, options.request_size))
        async with aclosing(raw):
            async for response in raw:
                if deliver(
                    response,
                    self.observers,
                    options.on_done,
                    options.on_error,
                    options.on_always,
                    options.continue_on_error,
                ):
                    yield response

    async def _prepare(self, retry: RetryPolicy) -> bool:
        """First contact (is the peer devkit?), retried like the request itself.

        This is the first call a ``post`` makes, so it is the one that meets a server
        that is not up yet; without retrying it, ``max_attempts`` would never apply.
        """
        transport = self.transport
        try:
            return await retry.run(transport.prepare, transport.is_transient)
        except Exception as exc:
            fail(transport, exc)

    async def _send_stream(
        self,
        requests: Callable[[], AsyncIterator[OutgoingRequest]],
        doclist_type: Any,
        window: int,
        timeout: float | None,
        retry: RetryPolicy,
        replayable: bool,
    ) -> AsyncGenerator[Response, None]:
        """All requests over one stream; retried from the start while nothing came back."""
        transport = self.transport
        attempt = 0
        while True:
            attempt += 1
            received = 0
            responses = transport.send_stream(requests(), doclist_type, window, timeout)
            try:
                async with aclosing(responses):
                    async for response in responses:
                        received += 1
                        yield response
                return
            except Exception as exc:
                replay = received == 0 and replayable  # a stream is retried only from its start
                retryable = transport.is_transient if replay else (lambda _: False)
                try:
                    await retry.wait_or_raise(attempt, exc, retryable)
                except Exception as final:
                    fail(transport, final)

    async def _send_each(
        self,
        requests: Callable[[], AsyncIterator[OutgoingRequest]],
        doclist_type: Any,
        window: int,
        timeout: float | None,
        retry: RetryPolicy,
    ) -> AsyncGenerator[Response, None]:
        """One call per request, each retried on its own, at most ``window`` in flight;
        responses come in the order they arrive."""
        transport = self.transport

        async def one(request: OutgoingRequest) -> Response:
            try:
                return await retry.run(
                    lambda: transport.send_one(request, doclist_type, timeout), transport.is_transient
                )
            except Exception as exc:
                fail(transport, exc)

        if window == 1:
            async for request in requests():
                yield await one(request)
            return
        pending: set[asyncio.Task[Response]] = set()
        source = requests().__aiter__()
        exhausted = False
        try:
            while True:
                while not exhausted and (window <= 0 or len(pending) < window):
                    try:
                        request = await anext(source)
                    except StopAsyncIteration:
                        exhausted = True
                        break
                    pending.add(asyncio.ensure_future(one(request)))
                if not pending:
                    return
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield task.result()
        finally:
            for task in pending:
                task.cancel()

    async def stream_doc(
        self, on: str, inputs: BaseDoc, *, return_type: Any = None, timeout: float | None = None
    ) -> AsyncIterator[Any]:
        """Call a streaming endpoint with one document; yield each document it produces."""
        schema = cast(type[BaseDoc], doclist_type_of(return_type).doc_type)
        transport = self.transport
        docs = transport.stream_doc(endpoint_path(on), inputs, schema, timeout)
        try:
            async with aclosing(docs):
                async for doc in docs:
                    yield doc
        except Exception as exc:
            fail(transport, exc)

    # -- readiness -------------------------------------------------------------------------
    async def is_flow_ready(self, timeout: float = 3.0) -> bool:
        return await self.transport.is_ready(timeout)

    async def dry_run(self, timeout: float | None = None) -> bool:
        transport = self.transport
        try:
            return await transport.dry_run(timeout)
        except Exception as exc:
            fail(transport, exc)

    async def close(self) -> None:
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
        if self.telemetry is not None:
            self.telemetry.close()
            self.telemetry = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
