"""One answer per request: whatever handling a request raises becomes that request's error.

Servers wrap their per-request handler with :func:`guarded` (unary calls) and give
:func:`error_response` to ``answer_stream`` (``Call`` streams), so no exception can drop a
request or end a stream: the request is answered with an error status naming who failed
and why, and the stream goes on with the next request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from devkit.proto import jina_pb2
from devkit.wire import error_status

__all__ = ["error_response", "guarded"]

log = logging.getLogger("devkit.serve")

Handler = Callable[[jina_pb2.DataRequestProto], Awaitable[jina_pb2.DataRequestProto]]


def error_response(
    request: jina_pb2.DataRequestProto, exc: BaseException, where: str
) -> jina_pb2.DataRequestProto:
    """``request`` answered with an error status describing ``exc``, raised by ``where``."""
    log.warning("%s failed on request %s", where, request.header.request_id, exc_info=exc)
    response = jina_pb2.DataRequestProto()
    response.CopyFrom(request)  # the documents come back with the error, as jina does
    error_status(exc, where, response.header.status)
    return response


def guarded(handle: Handler, where: str) -> Handler:
    """``handle``, answering with an error response instead of raising (cancellation aside)."""

    async def answer(request: jina_pb2.DataRequestProto) -> jina_pb2.DataRequestProto:
        try:
            return await handle(request)
        except Exception as exc:
            return error_response(request, exc, where)

    return answer
