"""The devkit side: what is served, and how it is measured.

Each :class:`Case` builds an orchestrator (a ``with``-able Deployment or Flow) for a
runtime and names the depth of the bare-grpc chain that is its floor. Adding a topology
means adding one entry to :func:`cases`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from baseline import Figures
from docarray import BaseDoc, DocList

from devkit import Client, Deployment, Executor, Flow, requests
from devkit.wire import new_request


class TextDoc(BaseDoc):
    text: str = ""


class SetText(Executor):
    """The smallest useful Executor: touches every document."""

    @requests
    def set_text(self, docs: DocList[TextDoc], **kwargs: Any) -> None:
        for doc in docs:
            doc.text = "hello world"


class Upper(Executor):
    """A second Executor for chains: reads what the first one wrote."""

    @requests
    def upper(self, docs: DocList[TextDoc], **kwargs: Any) -> None:
        for doc in docs:
            doc.text = doc.text.upper()


@dataclass(frozen=True)
class Case:
    """A devkit topology and the bare-grpc relay depth it is compared with."""

    name: str
    build: Callable[..., Any]  # (runtime, **options such as tracing) -> orchestrator
    baseline_depth: int
    expected_text: str


def _flow(runtime: str, **options: Any) -> Any:
    return Flow(runtime=runtime, quiet=True, **options).add(uses=SetText).add(uses=Upper)


def cases() -> list[Case]:
    """Every topology measured; add one here (and, if new, its floor's relay depth)."""
    return [
        Case(
            "deployment",
            lambda runtime, **options: Deployment(uses=SetText, runtime=runtime, quiet=True, **options),
            baseline_depth=0,
            expected_text="hello world",
        ),
        # client -> gateway -> A -> B; the floor is client -> relay -> relay -> echo
        Case("flow-2", _flow, baseline_depth=2, expected_text="HELLO WORLD"),
    ]


def payloads(docs_per_batch: int) -> tuple[bytes, bytes]:
    """Bytes of a 1-document and a batch request as devkit sends them: the baseline echoes these."""

    def encoded(count: int) -> bytes:
        docs = DocList[TextDoc]([TextDoc(text=f"doc {i}") for i in range(count)])
        return new_request("/", docs, devkit_peer=True).SerializeToString()

    return encoded(1), encoded(docs_per_batch)


def measure(
    case: Case,
    runtime: str,
    *,
    requests: int,
    total_docs: int,
    docs_per_batch: int,
    options: dict[str, Any] | None = None,
) -> Figures:
    """Start-up, sequential 1-document posts, then ``total_docs`` in requests of ``docs_per_batch``.

    ``options`` go to the orchestrator (``tracing=True`` and its exporter, for instance).
    """
    start = time.perf_counter()
    with case.build(runtime, **(options or {})) as orchestrator:
        startup = time.perf_counter() - start
        with Client(host="127.0.0.1", port=orchestrator.port) as client:
            one = TextDoc(text="hi")
            for _ in range(20):  # warm up: channel, peer check, first-call costs
                client.post("/", one, return_type=DocList[TextDoc])
            latencies = []
            for _ in range(requests):
                begin = time.perf_counter()
                client.post("/", one, return_type=DocList[TextDoc])
                latencies.append((time.perf_counter() - begin) * 1e3)

            docs = DocList[TextDoc]([TextDoc(text=f"doc {i}") for i in range(total_docs)])
            begin = time.perf_counter()
            out = client.post("/", docs, request_size=docs_per_batch, return_type=DocList[TextDoc])
            elapsed = time.perf_counter() - begin
    if len(out) != total_docs or out[0].text != case.expected_text:
        raise AssertionError(f"{case.name}/{runtime}: got {len(out)} documents, first {out[0].text!r}")
    return Figures(latencies, total_docs / elapsed, startup)
