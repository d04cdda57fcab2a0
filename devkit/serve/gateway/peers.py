"""Which document encoding each edge of the gateway speaks, learnt by asking the peer.

Only a peer that says it is devkit (its ``_status``, as the client asks the gateway) gets
devkit's internal encoding; every other peer, an external jina Executor included, gets
docarray's ``DocListProto``, which the gateway transcodes to when a request arrived in the
internal encoding. The answer is cached per replica set and asked again after the peer
could not be reached (it may come back as something else).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Sequence

import grpc
from docarray import DocList
from docarray.base_doc import AnyDoc

from devkit.proto import jina_pb2
from devkit.serve.connection import ReplicaSet
from devkit.serve.info import is_devkit_peer
from devkit.wire import carries_codec, read_docs, write_docs

__all__ = ["DocEncoding", "PeerEncoding", "carries_internal", "to_doclist_proto"]

log = logging.getLogger("devkit.gateway")

#: How long the gateway waits for a peer's ``_status`` before treating it as not devkit.
STATUS_TIMEOUT = 5.0


class DocEncoding(enum.Enum):
    """How documents travel on one edge."""

    INTERNAL = "internal"  # devkit's own encoding: only towards peers known to be devkit
    DOCLIST_PROTO = "doclist-proto"  # docarray's DocListProto: what every jina peer reads


def carries_internal(request: jina_pb2.DataRequestProto) -> bool:
    """Whether ``request``'s documents are in devkit's internal encoding."""
    return carries_codec(request)


def to_doclist_proto(request: jina_pb2.DataRequestProto) -> jina_pb2.DataRequestProto:
    """A copy of ``request`` whose documents are a ``DocListProto`` (``request`` is shared)."""
    copy = jina_pb2.DataRequestProto()
    copy.header.CopyFrom(request.header)
    if request.HasField("parameters"):
        copy.parameters.CopyFrom(request.parameters)
    copy.routes.extend(request.routes)
    write_docs(copy, read_docs(request, DocList[AnyDoc]))
    return copy


class PeerEncoding:
    """The encoding one replica set reads: asked once through ``_status``, then cached."""

    def __init__(self, shard: ReplicaSet) -> None:
        self.shard = shard
        self.known: DocEncoding | None = None
        self._asking: asyncio.Task[DocEncoding] | None = None

    async def learn(self) -> DocEncoding:
        """The peer's encoding; concurrent callers share one ``_status`` call."""
        if self.known is not None:
            return self.known
        if self._asking is None:
            self._asking = asyncio.create_task(self._ask())
            self._asking.add_done_callback(self._asked)
        return await asyncio.shield(self._asking)

    def _asked(self, task: asyncio.Task[DocEncoding]) -> None:
        self._asking = None

    async def _ask(self) -> DocEncoding:
        where = f"Executor {self.shard.executor!r} at {', '.join(self.shard.addresses)}"
        try:
            info = await self.shard.info(timeout=STATUS_TIMEOUT)
        except Exception as exc:
            if isinstance(exc, grpc.aio.AioRpcError) and exc.code() == grpc.StatusCode.UNAVAILABLE:
                return DocEncoding.DOCLIST_PROTO  # unreachable: ask again next time, send what all read
            cause = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else repr(exc)
            log.info("%s did not say what it is (%s): sending it DocListProto", where, cause)
            self.known = DocEncoding.DOCLIST_PROTO
            return self.known
        self.known = DocEncoding.INTERNAL if is_devkit_peer(info) else DocEncoding.DOCLIST_PROTO
        log.debug("%s reads %s", where, self.known.value)
        return self.known

    def forget(self) -> None:
        """The peer was unreachable: ask again before the next request."""
        self.known = None

    async def outgoing(
        self, requests: Sequence[jina_pb2.DataRequestProto]
    ) -> Sequence[jina_pb2.DataRequestProto]:
        """``requests`` as this peer reads them: unchanged, or transcoded to ``DocListProto``."""
        encoding = self.known or await self.learn()
        if encoding is DocEncoding.INTERNAL or not any(carries_internal(r) for r in requests):
            return requests
        return [to_doclist_proto(r) if carries_internal(r) else r for r in requests]
