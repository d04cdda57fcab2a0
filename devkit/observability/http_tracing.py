"""Spans around requests over HTTP and WebSocket, named and described as OpenTelemetry's
HTTP semantic conventions say, with the W3C ``traceparent`` header carrying the context.

A front-end opens a SERVER span per request (per request message on a WebSocket), the
child of the caller's span when its headers carry one, and current while the gateway
walks the request, so the hops' CLIENT spans are its children. A client opens a CLIENT
span and injects its context into the headers it sends (a WebSocket client: into the
headers that open the connection, as jina's protocol has no room for it in a message). Imported only when a runtime
traces: an untraced gateway or client never runs this module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from devkit.observability.grpc_tracing import mark_response

__all__ = [
    "HttpTarget",
    "inject",
    "mark_response",
    "marking",
    "record_failure",
    "server_span",
    "set_status_code",
    "start_client_span",
]


class HttpTarget:
    """Where a request goes or came in: the attributes both sides of a span share."""

    def __init__(self, scheme: str, host: str | None, port: int | None, path: str) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = path

    def attributes(self) -> dict[str, Any]:
        found: dict[str, Any] = {"url.scheme": self.scheme, "url.path": self.path}
        if self.host:
            found["server.address"] = self.host
        if self.port is not None:
            found["server.port"] = self.port
        return found


def span_name(method: str, route: str) -> str:
    """``{method} {route}``, the semantic conventions' name (``POST /post``, ``WS /``)."""
    return f"{method} {route}"


@contextmanager
def server_span(
    tracer: trace.Tracer,
    method: str,
    route: str,
    target: HttpTarget,
    headers: Mapping[str, str],
    *,
    name: str | None = None,
    **attributes: Any,
) -> Iterator[trace.Span]:
    """A SERVER span, current inside the block (the gateway's hops become its children),
    continuing the trace ``headers`` carry. ``name``: other than ``{method} {route}``."""
    parent = propagate.extract(dict(headers))
    with tracer.start_as_current_span(
        name or span_name(method, route),
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "http.route": route, **target.attributes(), **attributes},
    ) as span:
        yield span


def start_client_span(
    tracer: trace.Tracer,
    method: str,
    route: str,
    url: str,
    target: HttpTarget,
    *,
    name: str | None = None,
    **attributes: Any,
) -> trace.Span:
    """A CLIENT span, not made current (it may outlive one step of an async generator);
    :func:`inject` sends its context, the caller ends it."""
    return tracer.start_span(
        name or span_name(method, route),
        kind=SpanKind.CLIENT,
        attributes={
            "http.request.method": method,
            "url.full": url,
            "url.template": route,
            **target.attributes(),
            **attributes,
        },
    )


def inject(headers: MutableMapping[str, str], span: trace.Span) -> MutableMapping[str, str]:
    """``headers`` with ``span``'s context added (``traceparent``, and ``tracestate`` if any)."""
    propagate.inject(headers, context=trace.set_span_in_context(span))
    return headers


def set_status_code(span: trace.Span, code: int, *, server: bool) -> None:
    """``http.response.status_code``; an error from 500 on for a server, from 400 for a client
    (the conventions: a server did not fail on a request that was bad)."""
    span.set_attribute("http.response.status_code", code)
    if code >= 500 or (not server and code >= 400):
        span.set_attribute("error.type", str(code))
        span.set_status(Status(StatusCode.ERROR, f"HTTP {code}"))


def record_failure(span: trace.Span, exc: BaseException) -> None:
    """A request that failed on the client's side (refused, timed out, closed, unreadable)."""
    span.record_exception(exc)
    span.set_attribute("error.type", type(exc).__qualname__)
    span.set_status(Status(StatusCode.ERROR, repr(exc)))


def marking(post: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
    """``post`` (request -> DataRequestProto answer), marking the current span with the error
    an answer carries (which Executor failed, and how), as the gRPC server's span is."""

    async def post_and_mark(request: Any) -> Any:
        response = await post(request)
        mark_response(trace.get_current_span(), response)
        return response

    return post_and_mark
