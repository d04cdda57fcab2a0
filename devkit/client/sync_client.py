"""The synchronous ``Client``: the API of the docs' examples, over :class:`AsyncClient`.

A single request to a known devkit server is a blocking unary call from the caller's
thread; everything else drives the async client on a private loop (``client/loop.py``),
which also works inside a notebook whose loop is already running.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
from docarray import BaseDoc

from devkit.client.address import Address
from devkit.client.client import AsyncClient
from devkit.client.delivery import Callback, PostOptions, deliver, doclist_type_of, makes_one_request
from devkit.client.grpc import SyncUnaryTransport, is_retryable, map_rpc_error
from devkit.client.inputs import single_batch
from devkit.client.loop import LoopThread
from devkit.client.response import Response
from devkit.wire import new_request

__all__ = ["Client"]


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
        doclist_type = doclist_type_of(options.return_type)
        response = Response(proto, doclist_type)
        ok = deliver(
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
        if self._async.known_devkit_peer and makes_one_request(inputs, options.request_size):
            return self._post_one_blocking(on, inputs, parameters, options)
        return_responses = kwargs.pop("return_responses", False)
        has_callback = options.has_callback
        doclist_type = doclist_type_of(kwargs.get("return_type"))

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
