"""The asynchronous client: ``AsyncClient(host, port, protocol)`` and its ``post``.

It does the work on the caller's event loop; :class:`devkit.client.sync_client.Client` is
the synchronous facade over it (``Client(..., asyncio=True)`` returns one of these).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from docarray import BaseDoc
from pydantic import BaseModel

from devkit.client.address import Address, parse_address
from devkit.client.delivery import Callback, deliver, doclist_type_of, in_order, makes_one_request
from devkit.client.grpc import GrpcTransport, is_retryable, map_rpc_error
from devkit.client.inputs import batches, is_replayable
from devkit.client.response import Response
from devkit.client.retry import RetryPolicy
from devkit.errors import ServerUnavailableError
from devkit.proto import jina_pb2
from devkit.target import compile_target_executor
from devkit.wire import exception_from_status, new_request

__all__ = ["AsyncClient"]


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
    ) -> None:
        self.address: Address = parse_address(host, port, protocol, tls)
        #: called with every response, successful or not, before callbacks (e.g. test recorders)
        self.observers: list[Callback] = observers if observers is not None else []
        if self.address.protocol != "grpc":
            raise NotImplementedError(
                f"protocol {self.address.protocol!r} is not available yet; this client speaks grpc"
            )
        self.prefetch = prefetch
        self._metadata = metadata
        self._channel_options = grpc_channel_options
        self._transport: GrpcTransport | None = None

    @property
    def known_devkit_peer(self) -> bool:
        """Whether an earlier call found a devkit server here (asks nothing itself)."""
        return self._transport is not None and self._transport.known_devkit_peer

    @property
    def transport(self) -> GrpcTransport:
        if self._transport is None:
            self._transport = GrpcTransport(self.address, self._metadata, self._channel_options)
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
    ) -> AsyncIterator[Any]:
        """Yield, per request, its documents (``return_type``) or its :class:`Response`."""
        responses = self.responses(
            on,
            inputs,
            parameters,
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
            target_executor=target_executor,
            retry=RetryPolicy(max_attempts, initial_backoff, max_backoff, backoff_multiplier),
        )
        async for response in responses:
            yield response if return_responses else response.docs

    async def responses(
        self,
        on: str,
        inputs: Any,
        parameters: dict[str, Any] | BaseModel | None,
        *,
        return_type: Any,
        request_size: int,
        on_done: Callback | None,
        on_error: Callback | None,
        on_always: Callback | None,
        continue_on_error: bool,
        prefetch: int | None,
        timeout: float | None,
        results_in_order: bool,
        stream: bool,
        target_executor: str | None,
        retry: RetryPolicy,
    ) -> AsyncIterator[Response]:
        """Send the requests; yield each successful (or tolerated) response once."""
        doclist_type = doclist_type_of(return_type)
        compile_target_executor(target_executor)  # an invalid regex is refused before sending
        endpoint = on if on.startswith("/") else f"/{on}"
        use_json = await self._peer_is_devkit(retry)
        order: dict[str, int] = {}

        async def requests() -> AsyncIterator[jina_pb2.DataRequestProto]:
            async for docs in batches(inputs, request_size):
                request = new_request(
                    endpoint, docs, parameters, target_executor=target_executor, use_json=use_json
                )
                order[request.header.request_id] = len(order)
                yield request

        # One request to a devkit peer goes as a unary call: opening a stream for it costs
        # about twice as much (extra round trips and tasks on both sides) for the same result.
        unary = not stream or (use_json and makes_one_request(inputs, request_size))
        raw = (
            self._send_unary(requests, timeout, retry)
            if unary
            else self._send_stream(requests, prefetch or self.prefetch, timeout, retry, is_replayable(inputs))
        )
        if results_in_order:
            raw = in_order(raw, order)
        async for proto in raw:
            response = Response(proto, doclist_type)
            if deliver(response, self.observers, on_done, on_error, on_always, continue_on_error):
                yield response

    async def _peer_is_devkit(self, retry: RetryPolicy) -> bool:
        """Ask the server whether it is devkit, retried like the request itself.

        This is the first call a ``post`` makes, so it is the one that meets a server
        that is not up yet; without retrying it, ``max_attempts`` would never apply.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self.transport.peer_is_devkit()
            except ServerUnavailableError:
                if attempt >= retry.max_attempts:
                    raise
                await asyncio.sleep(retry.delay(attempt))

    async def _send_stream(
        self,
        requests: Callable[[], AsyncIterator[jina_pb2.DataRequestProto]],
        prefetch: int,
        timeout: float | None,
        retry: RetryPolicy,
        replayable: bool,
    ) -> AsyncIterator[jina_pb2.DataRequestProto]:
        attempt = 0
        while True:
            attempt += 1
            received = 0
            window = asyncio.Semaphore(prefetch) if prefetch > 0 else None

            async def limited(
                window: asyncio.Semaphore | None = window,
            ) -> AsyncIterator[jina_pb2.DataRequestProto]:
                async for request in requests():
                    if window is not None:
                        await window.acquire()
                    yield request

            call = self.transport.stream(limited(), timeout)
            try:
                async for response in call:
                    received += 1
                    if window is not None:
                        window.release()
                    yield response
                return
            except grpc.aio.AioRpcError as exc:
                if received == 0 and replayable and attempt < retry.max_attempts and is_retryable(exc):
                    await asyncio.sleep(retry.delay(attempt))
                    continue
                raise map_rpc_error(exc, self.address) from exc
            finally:
                call.cancel()

    async def _send_unary(
        self,
        requests: Callable[[], AsyncIterator[jina_pb2.DataRequestProto]],
        timeout: float | None,
        retry: RetryPolicy,
    ) -> AsyncIterator[jina_pb2.DataRequestProto]:
        async for request in requests():
            attempt = 0
            while True:
                attempt += 1
                try:
                    response = await self.transport.single(request, timeout)
                    break
                except grpc.aio.AioRpcError as exc:
                    if attempt < retry.max_attempts and is_retryable(exc):
                        await asyncio.sleep(retry.delay(attempt))
                        continue
                    raise map_rpc_error(exc, self.address) from exc
            yield response

    async def stream_doc(
        self, on: str, inputs: BaseDoc, *, return_type: Any = None, timeout: float | None = None
    ) -> AsyncIterator[Any]:
        """Call a streaming endpoint with one document; yield each document it produces."""
        schema = doclist_type_of(return_type).doc_type
        request = jina_pb2.SingleDocumentRequestProto()
        request.header.request_id = uuid.uuid4().hex
        request.header.exec_endpoint = on if on.startswith("/") else f"/{on}"
        request.document.CopyFrom(inputs.to_protobuf())
        try:
            async for reply in self.transport.stream_doc(request, timeout):
                if reply.header.status.code == jina_pb2.StatusProto.ERROR:
                    proto = jina_pb2.DataRequestProto(header=reply.header)
                    error = exception_from_status(proto)
                    assert error is not None
                    raise error
                yield schema.from_protobuf(reply.document)
        except grpc.aio.AioRpcError as exc:
            raise map_rpc_error(exc, self.address) from exc

    # -- readiness -------------------------------------------------------------------------
    async def is_flow_ready(self, timeout: float = 3.0) -> bool:
        return await self.transport.is_ready(timeout)

    async def dry_run(self, timeout: float | None = None) -> bool:
        return await self.transport.dry_run(timeout)

    async def close(self) -> None:
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
