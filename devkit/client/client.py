"""The Client: ``Client(host, port, protocol)`` and its ``post``.

:class:`AsyncClient` does the work on the caller's event loop; :class:`Client` is its
synchronous facade, driving it on a private loop thread (so it also works in notebooks).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from docarray import BaseDoc, DocList
from pydantic import BaseModel

from devkit.client.address import Address, parse_address
from devkit.client.grpc import GrpcTransport, SyncUnaryTransport, is_retryable, map_rpc_error
from devkit.client.inputs import batches, is_replayable, single_batch
from devkit.client.loop import LoopThread
from devkit.client.response import Response
from devkit.client.retry import RetryPolicy
from devkit.documents import UntypedDoc
from devkit.errors import ServerUnavailableError
from devkit.proto import jina_pb2
from devkit.wire import doclist_class, exception_from_status, new_request

__all__ = ["AsyncClient", "Client"]

log = logging.getLogger("devkit.client")

Callback = Callable[[Response], Any]


def _doclist_type(return_type: Any) -> type[DocList[Any]]:
    if return_type is None:
        return DocList[UntypedDoc]
    if doclist_class(return_type) is not None:
        return return_type
    if isinstance(return_type, type) and issubclass(return_type, BaseDoc):
        return DocList[return_type]
    raise TypeError(f"return_type must be a BaseDoc subclass or DocList[...], got {return_type!r}")


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
        doclist_type = _doclist_type(return_type)
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
        unary = not stream or (use_json and _makes_one_request(inputs, request_size))
        raw = (
            self._send_unary(requests, timeout, retry)
            if unary
            else self._send_stream(requests, prefetch or self.prefetch, timeout, retry, is_replayable(inputs))
        )
        if results_in_order:
            raw = _in_order(raw, order)
        async for proto in raw:
            response = Response(proto, doclist_type)
            if _deliver(response, self.observers, on_done, on_error, on_always, continue_on_error):
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
        schema = _doclist_type(return_type).doc_type
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


@dataclass(frozen=True)
class PostOptions:
    """The keyword options of ``post``, checked once (an unknown name is a TypeError)."""

    return_type: Any = None
    request_size: int = 100
    on_done: Callback | None = None
    on_error: Callback | None = None
    on_always: Callback | None = None
    continue_on_error: bool = False
    prefetch: int | None = None
    timeout: float | None = None
    results_in_order: bool = False
    stream: bool = True
    return_responses: bool = False
    target_executor: str | None = None
    max_attempts: int = 1
    initial_backoff: float = 0.5
    max_backoff: float = 2.0
    backoff_multiplier: float = 1.5

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(self.max_attempts, self.initial_backoff, self.max_backoff, self.backoff_multiplier)

    @property
    def has_callback(self) -> bool:
        return any(callback is not None for callback in (self.on_done, self.on_error, self.on_always))


def _deliver(
    response: Response,
    observers: list[Callback],
    on_done: Callback | None,
    on_error: Callback | None,
    on_always: Callback | None,
    continue_on_error: bool,
) -> bool:
    """Show one response to observers and callbacks; True when it carries no error.

    An error is raised here unless ``on_error`` takes it or ``continue_on_error`` is set.
    """
    for observe in observers:
        observe(response)
    error = exception_from_status(response.proto)
    if error is not None:
        if on_error is not None:
            on_error(response)
        elif not continue_on_error:
            if on_always is not None:
                on_always(response)
            raise error
        else:
            log.warning("%s (continuing: continue_on_error=True)", error.args[0])
    elif on_done is not None:
        on_done(response)
    if on_always is not None:
        on_always(response)
    return error is None


def _makes_one_request(inputs: Any, request_size: int) -> bool:
    """Whether :func:`batches` turns ``inputs`` into exactly one request."""
    if inputs is None or isinstance(inputs, BaseDoc):
        return True
    if isinstance(inputs, DocList):
        return len(inputs) <= request_size
    return isinstance(inputs, (list, tuple)) and 0 < len(inputs) <= request_size


async def _in_order(
    responses: AsyncIterator[jina_pb2.DataRequestProto], order: dict[str, int]
) -> AsyncIterator[jina_pb2.DataRequestProto]:
    """Re-order responses to the order their requests were sent."""
    waiting: dict[int, jina_pb2.DataRequestProto] = {}
    next_index = 0
    async for response in responses:
        waiting[order.get(response.header.request_id, next_index)] = response
        while next_index in waiting:
            yield waiting.pop(next_index)
            next_index += 1
    for index in sorted(waiting):
        yield waiting[index]


class Client:
    """Synchronous client; ``Client(..., asyncio=True)`` returns an :class:`AsyncClient`."""

    def __new__(cls, *args: Any, asyncio: bool = False, **kwargs: Any) -> Any:
        if asyncio:
            return AsyncClient(*args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        host: str = "0.0.0.0",
        port: int | None = None,
        protocol: str = "grpc",
        tls: bool = False,
        *,
        asyncio: bool = False,
        prefetch: int = 1000,
        metadata: dict[str, str] | None = None,
        grpc_channel_options: dict[str, Any] | None = None,
        observers: list[Callback] | None = None,
    ) -> None:
        self._async = AsyncClient(
            host,
            port,
            protocol,
            tls,
            prefetch=prefetch,
            metadata=metadata,
            grpc_channel_options=grpc_channel_options,
            observers=observers,
        )
        self._loop = LoopThread("devkit-client")
        self._sync: SyncUnaryTransport | None = None
        self._sync_settings = (metadata, grpc_channel_options)

    @property
    def address(self) -> Address:
        return self._async.address

    def _post_one_blocking(self, on: str, inputs: Any, parameters: Any, options: PostOptions) -> Any:
        """One request to a known devkit server, as a blocking unary call from this thread.

        Same contract as the general path (callbacks, observers, errors, retries, return
        value); it only skips the event loop, which is most of a small request's cost.
        """
        if self._sync is None:
            self._sync = SyncUnaryTransport(self.address, *self._sync_settings)
        endpoint = on if on.startswith("/") else f"/{on}"
        request = new_request(
            endpoint, single_batch(inputs), parameters, target_executor=options.target_executor, use_json=True
        )
        retry = options.retry
        attempt = 0
        while True:
            attempt += 1
            try:
                proto = self._sync.single(request, options.timeout)
                break
            except grpc.RpcError as exc:
                if attempt < retry.max_attempts and is_retryable(exc):
                    time.sleep(retry.delay(attempt))
                    continue
                raise map_rpc_error(exc, self.address) from exc
        doclist_type = _doclist_type(options.return_type)
        response = Response(proto, doclist_type)
        ok = _deliver(
            response,
            self._async.observers,
            options.on_done,
            options.on_error,
            options.on_always,
            options.continue_on_error,
        )
        if options.return_responses:
            return [response] if ok else []
        if options.has_callback:
            return None
        return response.docs if ok else doclist_type()

    def post(self, on: str, inputs: Any = None, parameters: Any = None, **kwargs: Any) -> Any:
        """Send ``inputs`` to endpoint ``on``; see :meth:`AsyncClient.post` for the options.

        Returns one DocList of all returned documents, the list of responses with
        ``return_responses=True``, or ``None`` when a callback is given.
        """
        options = PostOptions(**kwargs)  # rejects unknown options, as the general path does
        if self._async.known_devkit_peer and _makes_one_request(inputs, options.request_size):
            return self._post_one_blocking(on, inputs, parameters, options)
        return_responses = kwargs.pop("return_responses", False)
        has_callback = options.has_callback
        doclist_type = _doclist_type(kwargs.get("return_type"))

        async def collect() -> Any:
            results: list[Response] = []
            async for response in self._async.post(on, inputs, parameters, return_responses=True, **kwargs):
                results.append(response)
            if return_responses:
                return results
            if has_callback:
                return None
            # each response's documents were validated as doclist_type when decoded
            return doclist_type.construct([doc for response in results for doc in response.docs])

        return self._loop.run(collect())

    def stream_doc(self, on: str, inputs: BaseDoc, **kwargs: Any) -> list[Any]:
        async def collect() -> list[Any]:
            return [doc async for doc in self._async.stream_doc(on, inputs, **kwargs)]

        return self._loop.run(collect())

    def is_flow_ready(self, timeout: float = 3.0) -> bool:
        return self._loop.run(self._async.is_flow_ready(timeout))

    def dry_run(self, timeout: float | None = None) -> bool:
        return self._loop.run(self._async.dry_run(timeout))

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        if self._loop._loop is not None:
            self._loop.run(self._async.close())
        self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
