"""The one interface every client protocol implements, and the factory that opens one.

The client (``client.py``) owns what is common to every protocol: batching, retries,
ordering, callbacks. A :class:`Transport` only moves one request or a stream of requests
to the server and back, and says which of its failures are transient.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from docarray import BaseDoc, DocList
from pydantic import BaseModel

from devkit.client.address import Address
from devkit.client.response import Response

__all__ = ["ConnectionSettings", "OutgoingRequest", "Transport", "open_transport"]


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    """One request as the client built it; each transport encodes it its own way."""

    request_id: str
    endpoint: str
    docs: DocList[Any] | None
    parameters: dict[str, Any] | BaseModel | None
    target_executor: str | None


@dataclass(frozen=True)
class ConnectionSettings:
    """What a transport needs besides the address (the client's constructor options)."""

    metadata: dict[str, str] = field(default_factory=dict)  # grpc metadata / HTTP headers
    grpc_channel_options: dict[str, Any] | None = None
    prefetch: int = 1000
    interceptors: tuple[Any, ...] = ()  # grpc.aio client interceptors (tracing); none: no cost
    #: the client's tracer (None: off): HTTP and WebSocket then open traced transports
    tracer: Any = None


class Transport(ABC):
    """Moves requests to one server over one protocol, on one pooled connection/channel.

    Create it inside the event loop that will use it. Failures are raised as the
    underlying library's errors; :meth:`is_transient` tells the client's retry policy
    which are worth another attempt, and :meth:`map_error` turns them into devkit's.
    """

    #: whether :meth:`send_stream` keeps one stream open for many requests (grpc, websocket);
    #: otherwise the client sends each request with :meth:`send_one`, ``prefetch`` at a time
    streams: bool = True

    def __init__(self, address: Address, settings: ConnectionSettings) -> None:
        self.address = address
        self.settings = settings

    @property
    def known_devkit_peer(self) -> bool:
        """Whether an earlier call found a devkit server here (asks nothing itself)."""
        return False

    async def prepare(self) -> bool:
        """First contact before a post; True when the peer is devkit.

        Raises :class:`ConnectionError` (transient) when the server cannot be reached, so
        the client retries it like the request itself.
        """
        return False

    @abstractmethod
    async def send_one(
        self, request: OutgoingRequest, doclist_type: type[DocList[Any]], timeout: float | None
    ) -> Response:
        """One request, one response: a single attempt."""

    @abstractmethod
    def send_stream(
        self,
        requests: AsyncIterator[OutgoingRequest],
        doclist_type: type[DocList[Any]],
        window: int,
        timeout: float | None,
    ) -> AsyncGenerator[Response, None]:
        """Many requests over one stream, at most ``window`` unanswered (0: no limit)."""

    @abstractmethod
    def stream_doc(
        self, endpoint: str, doc: BaseDoc, schema: type[BaseDoc], timeout: float | None
    ) -> AsyncGenerator[BaseDoc, None]:
        """Call a streaming (generator) endpoint with one document."""

    @abstractmethod
    async def is_ready(self, timeout: float) -> bool: ...

    @abstractmethod
    async def dry_run(self, timeout: float | None) -> bool: ...

    @abstractmethod
    def is_transient(self, exc: BaseException) -> bool:
        """A connectivity failure worth another attempt."""

    @abstractmethod
    def map_error(self, exc: BaseException) -> BaseException:
        """devkit's error for a failure of this transport (``exc`` itself when unknown)."""

    @abstractmethod
    async def close(self) -> None: ...


def open_transport(address: Address, settings: ConnectionSettings) -> Transport:
    """The transport of ``address.protocol``: the one place that picks and opens one."""
    try:
        if address.protocol == "grpc":
            from devkit.client.grpc import GrpcTransport

            return GrpcTransport(address, settings)
        if address.protocol == "http":
            if settings.tracer is not None:
                from devkit.client.traced import TracedHttpTransport

                return TracedHttpTransport(address, settings)
            from devkit.client.http import HttpTransport

            return HttpTransport(address, settings)
        if address.protocol == "websocket":
            if settings.tracer is not None:
                from devkit.client.traced import TracedWebSocketTransport

                return TracedWebSocketTransport(address, settings)
            from devkit.client.websocket import WebSocketTransport

            return WebSocketTransport(address, settings)
    except ImportError as exc:
        raise ImportError(
            f"the {address.protocol} client needs {exc.name!r}, which the 'http' extra installs: "
            "pip install 'devkit[http]'"
        ) from exc
    raise ValueError(f"no transport for protocol {address.protocol!r}")
