"""A fake network for tests: fault-injecting proxies on the edges of a Deployment or Flow.

How it plugs in: devkit components learn each other's addresses from specs at start time
("addresses are data"), and every address is passed through the orchestrator's rewriters
first (``Orchestrator.route_through``). :class:`FakeNetwork` is such a rewriter: for each
edge it is asked about (client -> gateway, gateway -> replica r of shard s of an Executor)
it starts a proxy on 127.0.0.1 and returns the proxy's address. Nothing on the request
path knows; the same works for the thread and the process runtime, since only the
addresses handed to the servers change and the proxies live in the test process.

    with FakeNetwork(seed=7) as network:
        flow = network.attach(Flow().add(uses=Encoder, name='encoder', replicas=2))
        replica0 = network.edge('gateway', 'encoder', replica=0, layer='grpc')
        replica0.fail(grpc.StatusCode.UNAVAILABLE)
        with flow:
            flow.post('/', docs)            # the gateway retries on replica 1
        assert replica0.stats.faults['fail'] >= 1

An edge is TCP (Toxiproxy-like toxics on bytes: latency, bandwidth, timeout/blackhole,
reset_peer, slow_close, limit_data), gRPC (faults on calls: fail with a status code,
on a :class:`Schedule` of request numbers or for requests whose documents match a
query; latency) or HTTP (``fail(503)`` / ``fail_first(2, 503)`` on HTTP requests and
WebSocket handshakes, and the TCP toxics); all can be partitioned and healed. The
client -> gateway edge is proxied whatever the protocol (gRPC, HTTP, WebSocket).
"""

from devkit.testing.faults.edge import EdgeHandle, LayerError, Selector
from devkit.testing.faults.faults import (
    Bandwidth,
    Fail,
    Fault,
    HttpFail,
    Latency,
    LimitData,
    Partition,
    ResetPeer,
    SlowClose,
    Timeout,
    Toxic,
)
from devkit.testing.faults.network import FakeNetwork
from devkit.testing.faults.schedule import Schedule
from devkit.testing.faults.stats import EdgeStats

__all__ = [
    "Bandwidth",
    "EdgeHandle",
    "EdgeStats",
    "Fail",
    "FakeNetwork",
    "Fault",
    "HttpFail",
    "Latency",
    "LayerError",
    "LimitData",
    "Partition",
    "ResetPeer",
    "Schedule",
    "Selector",
    "SlowClose",
    "Timeout",
    "Toxic",
]
