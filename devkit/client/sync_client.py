"""The synchronous ``Client``: the API of the docs' examples, over :class:`AsyncClient`.

A single request to a known devkit server is a blocking unary call from the caller's
thread; everything else drives the async client on a private loop (``client/loop.py``),
which also works inside a notebook whose loop is already running.
"""

from __future__ import annotations

from typing import Any

from docarray import BaseDoc
from pydantic import BaseModel

from devkit.client.address import Address
from devkit.client.client import AsyncClient, endpoint_path
from devkit.client.delivery import Callback, PostOptions, deliver, doclist_type_of, makes_one_request
from devkit.client.grpc import SyncUnaryTransport, is_retryable, map_rpc_error
from devkit.client.inputs import single_batch
from devkit.client.loop import LoopThread
from devkit.client.response import Response
from devkit.client.transport import OutgoingRequest
from devkit.wire import new_request_id

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
        show_progress: bool = False,
        tracing: bool = False,
        traces_exporter_host: str | None = None,
        traces_exporter_port: int | None = None,
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
            show_progress=show_progress,
            tracing=tracing,
            traces_exporter_host=traces_exporter_host,
            traces_exporter_port=traces_exporter_port,
        )
        self._loop = LoopThread("devkit-client")
        self._sync: SyncUnaryTransport | None = None

    @property
    def address(self) -> Address:
        return self._async.address

    def _post_one_blocking(
        self, on: str, inputs: Any, parameters: dict[str, Any] | BaseModel | None, options: PostOptions
    ) -> Any:
        """One request to a known devkit gRPC server, as a blocking unary call from this thread.

        Same contract as the general path (callbacks, observers, errors, retries, return
        value); it only skips the event loop, which is most of a small request's cost.
        """
        if self._sync is None:
            self._sync = SyncUnaryTransport(self.address, self._async.settings)
        sync = self._sync
        request = OutgoingRequest(
            new_request_id(), endpoint_path(on), single_batch(inputs), parameters, options.target_executor
        )
        try:
            proto = options.retry.run_blocking(lambda: sync.send_one(request, options.timeout), is_retryable)
        except Exception as exc:
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

    def post(
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
    ) -> Any:
        """Send ``inputs`` to endpoint ``on``.

        Returns one DocList of all returned documents (as ``return_type``), the list of
        responses with ``return_responses=True``, or ``None`` when a callback is given.
        ``request_size`` documents go per request, ``prefetch`` requests at most in flight;
        an Executor error raises unless ``on_error`` takes it or ``continue_on_error`` is set;
        connectivity failures are retried ``max_attempts`` times in all (docs: transient errors).
        """
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
            show_progress=self._async.show_progress if show_progress is None else show_progress,
        )
        if (
            not options.show_progress
            and self.address.protocol == "grpc"
            and self._async.known_devkit_peer
            and self._async.telemetry is None  # a traced call goes through the client's Call span
            and makes_one_request(inputs, request_size)
        ):
            return self._post_one_blocking(on, inputs, parameters, options)
        doclist_type = doclist_type_of(return_type)

        async def collect() -> Any:
            results = [response async for response in self._async.responses(on, inputs, parameters, options)]
            if return_responses:
                return results
            if options.has_callback:
                return None
            # each response's documents were validated as doclist_type when decoded
            return doclist_type.construct([doc for response in results for doc in response.docs])

        return self._loop.run(collect())

    def stream_doc(
        self, on: str, inputs: BaseDoc, *, return_type: Any = None, timeout: float | None = None
    ) -> list[Any]:
        """Call a streaming endpoint with one document; the documents it produced, in order."""

        async def collect() -> list[Any]:
            stream = self._async.stream_doc(on, inputs, return_type=return_type, timeout=timeout)
            return [doc async for doc in stream]

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
