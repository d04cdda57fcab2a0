"""devkit's side of the payload mix: a 2-Executor Flow, one endpoint per payload."""

from __future__ import annotations

from typing import Any

from docarray import DocList
from docarray.documents import ImageDoc, TextDoc
from payloads import MixFigures, Page, Payload, PlainTextDoc, first, measure_payload, second

from devkit import Client, Executor, Flow, requests


class MixFirst(Executor):
    @requests(on="/text")
    def text(self, docs: DocList[TextDoc], **kwargs: Any) -> None:
        first("text", docs)

    @requests(on="/embedding")
    def embedding(self, docs: DocList[TextDoc], **kwargs: Any) -> None:
        first("embedding", docs)

    @requests(on="/image")
    def image(self, docs: DocList[ImageDoc], **kwargs: Any) -> None:
        first("image", docs)

    @requests(on="/nested")
    def nested(self, docs: DocList[Page], **kwargs: Any) -> None:
        first("nested", docs)

    @requests(on="/control")
    def control(self, docs: DocList[PlainTextDoc], **kwargs: Any) -> None:
        first("control", docs)


class MixSecond(Executor):
    @requests(on="/text")
    def text(self, docs: DocList[TextDoc], **kwargs: Any) -> None:
        second("text", docs)

    @requests(on="/embedding")
    def embedding(self, docs: DocList[TextDoc], **kwargs: Any) -> None:
        second("embedding", docs)

    @requests(on="/image")
    def image(self, docs: DocList[ImageDoc], **kwargs: Any) -> None:
        second("image", docs)

    @requests(on="/nested")
    def nested(self, docs: DocList[Page], **kwargs: Any) -> None:
        second("nested", docs)

    @requests(on="/control")
    def control(self, docs: DocList[PlainTextDoc], **kwargs: Any) -> None:
        second("control", docs)


def measure(runtime: str, payloads: list[Payload], *, posts: int, scale: float) -> dict[str, MixFigures]:
    flow = Flow(runtime=runtime, quiet=True).add(uses=MixFirst).add(uses=MixSecond)
    with flow, Client(host="127.0.0.1", port=flow.port) as client:
        return {p.name: measure_payload(client, p, posts=posts, scale=scale) for p in payloads}
