"""Tracing across the container runtime: the worker in a container continues the gateway's trace,
exporting to the test's span receiver on the host's loopback through a relay on the Docker bridge."""

from __future__ import annotations

import socket

import pytest
from container_executors import Where, WhereDoc
from docarray import DocList

pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(180)]

CALL = "/jina.JinaRPC/Call"
HOP = "/jina.JinaSingleDataRequestRPC/process_single_data"


@pytest.mark.devkit_runtimes("container")
@pytest.mark.parametrize("exporter", ["environment", "explicit"])
def test_the_executor_in_a_container_continues_the_gateways_trace(flow_factory, spans, exporter):
    """``environment``: the spans fixture's OTEL variables; ``explicit``: traces_exporter_host
    and _port naming the receiver on 127.0.0.1. Either way the container cannot dial loopback."""
    options = {"traces_exporter_host": spans.endpoint, "traces_exporter_port": spans.port}
    flow = flow_factory(tracing=True, **(options if exporter == "explicit" else {}))
    with flow.add(uses=Where, name="where"):
        got = flow.post("/", DocList[WhereDoc]([WhereDoc(text="a")]), return_type=DocList[WhereDoc])
    assert got[0].hosts and got[0].hosts[0] != socket.gethostname(), "the Executor ran on the host"

    spans.wait_for(
        lambda s: any(span.name == "/" and span.service == "where/rep-0" for span in s), timeout=30
    )
    spans.wait_for(lambda s: len(s.named(CALL)) >= 2)
    (served,) = [span for span in spans.named(HOP) if span.kind == "SERVER"]
    assert served.service == "where/rep-0", spans.tree()
    hop = spans.parent_of(served)
    assert hop is not None, f"the container's span has no parent among the spans:\n{spans.tree()}"
    assert (hop.name, hop.kind, hop.service) == (HOP, "CLIENT", "Flow/gateway"), spans.tree()
    assert hop.attributes["peer.service"] == "where"
    assert len({span.trace_id for span in spans}) == 1, spans.tree()
    assert spans.shape() == [
        f"{CALL} CLIENT",
        f"  {CALL} SERVER",
        f"    {HOP} CLIENT",
        f"      {HOP} SERVER",
        "        / INTERNAL",
    ], spans.tree()
    assert not spans.errors(), spans.tree()
