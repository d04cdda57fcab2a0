"""A jina 3.34 Executor served by jina joins a devkit Flow as an external Executor.

devkit's client and gateway speak devkit's internal document encoding to each other; the
gateway asks the jina Executor what it is and sends it docarray's ``DocListProto``.
"""

from __future__ import annotations

from typing import Any

import pytest
from docarray import BaseDoc, DocList

from devkit import Client, Executor, Flow, requests

pytestmark = [pytest.mark.jina_compat, pytest.mark.timeout(120)]


class PlainDoc(BaseDoc):
    """The schema of the documents devkit's client sends (in its internal encoding, to a devkit gateway)."""

    text: str = ""
    n: int = 0


class Exclaim(Executor):
    @requests
    def exclaim(self, docs, **kwargs):  # untyped: fits whatever jina's Executor returns
        for doc in docs:
            doc.text += "!"


def test_documents_round_trip_through_a_jina_executor_in_a_devkit_flow(jina_executor: Any) -> None:
    flow = (
        Flow()
        .add(name="shouter", external=True, host="127.0.0.1", port=jina_executor.port)
        .add(name="exclaim", uses=Exclaim)
    )
    docs = DocList[PlainDoc](
        [PlainDoc(id=f"doc-{i}", text=text) for i, text in enumerate(["hi", "jina", "x"])]
    )
    with flow, Client(port=flow.port) as client:
        assert client.dry_run()
        for request_size in (1, 3):  # streamed and unary
            returned = client.post(
                "/shout",
                docs,
                {"suffix": "?"},
                request_size=request_size,
                results_in_order=True,
                return_type=DocList[PlainDoc],
            )
            assert [(d.id, d.text, d.n) for d in returned] == [
                ("doc-0", "HI?!", 3),
                ("doc-1", "JINA?!", 5),
                ("doc-2", "X?!", 2),
            ]


@pytest.mark.parametrize("protocol", ["grpc", "websocket"])
def test_an_int_a_jina_executor_cannot_read_is_that_requests_error_naming_it(
    jina_executor: Any, protocol: str
) -> None:
    """devkit's client carries 2**40 to the gateway in its codec; the gateway's edge to the jina
    Executor needs DocListProto (32-bit ints): that request is answered with an error naming the
    Executor, the field and the limit, and the next request goes through."""
    flow = Flow(protocol=protocol).add(
        name="shouter", external=True, host="127.0.0.1", port=jina_executor.port
    )
    scheme = "ws" if protocol == "websocket" else "grpc"
    with flow, Client(host=f"{scheme}://127.0.0.1:{flow.port}") as client:
        errors: list[Any] = []
        client.post("/shout", DocList[PlainDoc]([PlainDoc(text="big", n=2**40)]), on_error=errors.append)
        (error,) = errors
        assert error.status.exception.executor == "shouter"
        assert error.status.exception.name == "UnencodableDocumentError"
        assert "field 'n'" in error.status.description and "32-bit range" in error.status.description
        returned = client.post(
            "/shout", DocList[PlainDoc]([PlainDoc(text="hi")]), return_type=DocList[PlainDoc]
        )
        assert returned.text == ["HI"]
