"""Jina's format at the edge: a devkit gateway sends an external Executor that is not devkit
(asked through ``_status``, not assumed) docarray's ``DocListProto``, never devkit's internal
encoding; a failed endpoint discovery is logged and reported by ``dry_run``.

The external Executor here is a plain jina-protocol server written with the generated stubs:
it decodes documents only as jina does (``DocList.from_protobuf``) and fails loudly on
anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator

import grpc
import pytest
from docarray import BaseDoc, DocList
from docarray.proto import DocListProto
from google.protobuf import empty_pb2

from devkit import Client, Executor, ExecutorError, Flow, requests
from devkit.proto import jina_pb2, jina_pb2_grpc
from devkit.serve.info import DEVKIT_KEY
from devkit.wire import carries_codec, read_docs, write_docs


class TextDoc(BaseDoc):
    text: str = ""


class Upper(Executor):
    @requests
    def upper(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper()


class Exclaim(Executor):
    @requests
    def exclaim(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += "!"


class JinaProtocolExecutor(
    jina_pb2_grpc.JinaSingleDataRequestRPCServicer,
    jina_pb2_grpc.JinaDataRequestRPCServicer,
    jina_pb2_grpc.JinaDiscoverEndpointsRPCServicer,
    jina_pb2_grpc.JinaInfoRPCServicer,
):
    """A jina-protocol Executor that appends ``suffix`` to every document's text.

    ``status`` is what its ``_status`` says: ``"jina"`` (jina's own fields, no devkit key),
    ``"none"`` (not implemented at all) or ``"devkit"`` (claims to be devkit, and then reads
    devkit's encoding as a devkit worker would).
    """

    def __init__(self, suffix: str, *, status: str = "jina", discovery_fails: bool = False) -> None:
        self.suffix = suffix
        self.status = status
        self.discovery_fails = discovery_fails
        self.received: list[str] = []  # per request: "internal" or "doclist-proto"
        self.failures: list[str] = []

    def register(self, server: grpc.aio.Server) -> None:
        jina_pb2_grpc.add_JinaSingleDataRequestRPCServicer_to_server(self, server)
        jina_pb2_grpc.add_JinaDataRequestRPCServicer_to_server(self, server)
        jina_pb2_grpc.add_JinaDiscoverEndpointsRPCServicer_to_server(self, server)
        if self.status != "none":
            jina_pb2_grpc.add_JinaInfoRPCServicer_to_server(self, server)

    def _decode(self, request: jina_pb2.DataRequestProto) -> DocList[TextDoc]:
        self.received.append("internal" if carries_codec(request) else "doclist-proto")
        if self.status == "devkit":
            return read_docs(request, DocList[TextDoc])
        data = request.data
        if data.WhichOneof("documents") == "docs_bytes":
            return DocList[TextDoc].from_protobuf(DocListProto.FromString(data.docs_bytes))
        return DocList[TextDoc].from_protobuf(data.docs)

    async def process_single_data(
        self, request: jina_pb2.DataRequestProto, context: grpc.aio.ServicerContext
    ) -> jina_pb2.DataRequestProto:
        try:
            docs = self._decode(request)
        except Exception as exc:
            self.failures.append(repr(exc))
            await context.abort(grpc.StatusCode.INTERNAL, f"cannot decode the documents: {exc!r}")
        for doc in docs:
            doc.text += self.suffix
        write_docs(request, docs, devkit_peer=self.status == "devkit" and carries_codec(request))
        return request

    async def process_data(
        self, request: jina_pb2.DataRequestListProto, context: grpc.aio.ServicerContext
    ) -> jina_pb2.DataRequestProto:
        return await self.process_single_data(request.requests[0], context)

    async def endpoint_discovery(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> jina_pb2.EndpointsProto:
        if self.discovery_fails:
            await context.abort(grpc.StatusCode.INTERNAL, "discovery is broken on purpose")
        return jina_pb2.EndpointsProto(endpoints=["/default"])

    async def _status(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> jina_pb2.JinaInfoProto:
        info = jina_pb2.JinaInfoProto()
        info.jina.update({"jina": "3.34.0", "docarray": "0.40.0"})
        if self.status == "devkit":
            info.jina[DEVKIT_KEY] = "0"
        return info


@contextlib.contextmanager
def serving(executor: JinaProtocolExecutor, port: int = 0) -> Iterator[int]:
    """Serve ``executor`` on a grpc.aio server of its own loop and thread; yield its port."""
    started = threading.Event()
    state: dict[str, object] = {}

    async def main() -> None:
        server = grpc.aio.server()
        executor.register(server)
        bound = server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        stop = asyncio.Event()
        state.update(port=bound, loop=asyncio.get_running_loop(), stop=stop)
        started.set()
        await stop.wait()
        await server.stop(None)

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="jina-protocol-server")
    thread.start()
    try:
        assert started.wait(10), "the jina-protocol server did not start"
        yield int(state["port"])  # type: ignore[call-overload]
    finally:
        if "loop" in state:
            state["loop"].call_soon_threadsafe(state["stop"].set)  # type: ignore[attr-defined]
        thread.join(10)


def _texts(flow: Flow, words: str) -> list[str]:
    docs = DocList[TextDoc]([TextDoc(text=word) for word in words])
    with Client(port=flow.port) as client:
        return client.post(
            "/", docs, request_size=1, results_in_order=True, return_type=DocList[TextDoc]
        ).text


@pytest.mark.parametrize("status", ["jina", "none"], ids=["jina-status", "no-status"])
def test_an_external_jina_executor_gets_doclist_proto_between_devkit_executors(status: str) -> None:
    jina = JinaProtocolExecutor(" from jina", status=status)
    with serving(jina) as port:
        flow = (
            Flow()
            .add(name="upper", uses=Upper)
            .add(name="jina", external=True, host="127.0.0.1", port=port)
            .add(name="exclaim", uses=Exclaim)
        )
        with flow:
            assert _texts(flow, "abc") == ["A from jina!", "B from jina!", "C from jina!"]
    assert jina.failures == []
    assert jina.received == ["doclist-proto"] * 3


def test_an_external_jina_executor_first_in_the_flow_gets_doclist_proto() -> None:
    jina = JinaProtocolExecutor(" from jina")
    with serving(jina) as port, Flow().add(name="jina", external=True, host=f"127.0.0.1:{port}") as flow:
        assert _texts(flow, "ab") == ["a from jina", "b from jina"]
    assert jina.failures == []
    assert jina.received == ["doclist-proto"] * 2


def test_a_peer_that_says_it_is_devkit_gets_the_internal_encoding() -> None:
    devkit_peer = JinaProtocolExecutor(" from a devkit peer", status="devkit")
    with serving(devkit_peer) as port:
        flow = Flow().add(name="upper", uses=Upper).add(name="peer", external=True, host=f"127.0.0.1:{port}")
        with flow:
            assert _texts(flow, "ab") == ["A from a devkit peer", "B from a devkit peer"]
    assert devkit_peer.received == ["internal"] * 2


def test_a_peer_that_comes_back_as_something_else_is_asked_again(free_port: int) -> None:
    address = f"127.0.0.1:{free_port}"
    devkit_peer = JinaProtocolExecutor(" from a devkit peer", status="devkit")
    jina = JinaProtocolExecutor(" from jina")
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(contextlib.ExitStack())
        first.enter_context(serving(devkit_peer, free_port))
        flow = stack.enter_context(
            Flow().add(name="upper", uses=Upper).add(name="peer", external=True, host=address)
        )
        client = stack.enter_context(Client(port=flow.port))
        assert _texts(flow, "a") == ["A from a devkit peer"]
        first.close()  # the peer goes away...
        with pytest.raises(ExecutorError, match="could not be reached"):
            client.post("/", TextDoc(text="b"))
        stack.enter_context(serving(jina, free_port))  # ...and a jina Executor takes its place
        assert _texts(flow, "c") == ["C from jina"]
    assert devkit_peer.received == ["internal"]
    assert jina.failures == []
    assert jina.received == ["doclist-proto"]


def test_a_failed_endpoint_discovery_is_logged_and_reported_by_dry_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    jina = JinaProtocolExecutor(" from jina", discovery_fails=True)
    with serving(jina) as port:
        address = f"127.0.0.1:{port}"
        with caplog.at_level(logging.WARNING, logger="devkit.gateway"):
            flow = Flow().add(name="jina", external=True, host=address)
            with flow, grpc.insecure_channel(f"127.0.0.1:{flow.port}") as channel:
                logged = [r.getMessage() for r in caplog.records if r.name == "devkit.gateway"]
                expected = f"endpoint discovery of external Executor 'jina' at {address} failed"
                assert any(expected in m and "discovery is broken on purpose" in m for m in logged), logged
                status = jina_pb2_grpc.JinaGatewayDryRunRPCStub(channel).dry_run(
                    empty_pb2.Empty(), timeout=30
                )
                assert status.code == jina_pb2.StatusProto.ERROR
                assert expected in status.description
                assert "INTERNAL: discovery is broken on purpose" in status.description
                assert flow.dry_run() is False
                assert _texts(flow, "a") == ["a from jina"]  # it is still sent every request
