"""Health-checking a running server, as ``devkit ping`` does (jina's ``ping`` semantics).

gRPC addresses are asked ``grpc.health.v1.Health/Check``; a Flow or Deployment is also
asked for a dry run, so an Executor that is down behind a healthy gateway fails the check,
naming it. ``ping gateway`` passes while the gateway itself serves, but reports the Flow as
degraded, naming the Executors its dry run found down. HTTP and WebSocket addresses are
checked with ``GET /``.
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["PING_TARGETS", "PingCommand", "ping"]

PING_TARGETS = ("executor", "deployment", "flow", "gateway")


@dataclass(frozen=True)
class _Outcome:
    """One check: ``problem`` says why it failed; ``degraded`` why a passing gateway's Flow is not whole."""

    problem: str | None = None
    degraded: str | None = None


@dataclass(frozen=True)
class PingCommand:
    """``devkit ping``: health-check a running server."""

    target: str
    address: str
    timeout: float | None  # seconds per attempt; None waits forever
    attempts: int
    min_successful: int
    interval: float


def _check_grpc(host: str, port: int, tls: bool, target: str, timeout: float | None) -> _Outcome:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from devkit.serve.server import CHANNEL_OPTIONS

    address = f"{host}:{port}"
    if tls:
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(), options=CHANNEL_OPTIONS)
    else:
        channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout
            )
            if reply.status != health_pb2.HealthCheckResponse.SERVING:
                name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                return _Outcome(problem=f"health status {name}")
            if target == "executor":
                return _Outcome()
            down = _dry_run(channel, timeout, required=target != "gateway")
        except grpc.RpcError as exc:
            return _Outcome(problem=_rpc_error(exc))
    if down is None:
        return _Outcome()
    return _Outcome(degraded=down) if target == "gateway" else _Outcome(problem=down)


def _dry_run(channel: Any, timeout: float | None, required: bool) -> str | None:
    """``None`` when the gateway's dry run passes, else what it found down (which names the
    Executors). A server without dry runs passes unless ``required`` (a Flow must have one)."""
    import grpc
    from google.protobuf import empty_pb2

    from devkit.proto import jina_pb2

    dry_run = channel.unary_unary(
        "/jina.JinaGatewayDryRunRPC/dry_run",
        request_serializer=empty_pb2.Empty.SerializeToString,
        response_deserializer=jina_pb2.StatusProto.FromString,
    )
    try:
        status = dry_run(empty_pb2.Empty(), timeout=timeout)
    except grpc.RpcError as exc:
        if not required and isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            return None
        raise
    if status.code == jina_pb2.StatusProto.SUCCESS:
        return None
    cause = status.exception.args[0] if status.exception.args else status.description
    return f"dry run failed: {cause or status.exception.name}"


def _rpc_error(exc: Any) -> str:
    import grpc

    code = exc.code() if isinstance(exc, grpc.Call) else None
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    return f"{code.name if code else 'error'}: {details}"


def _check_http(scheme: str, host: str, port: int, timeout: float | None) -> _Outcome:
    url = f"{scheme}://{host}:{port}/"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(url, timeout=timeout) as reply:
            return _Outcome(None if reply.status == 200 else f"GET / answered HTTP {reply.status}")
    except urllib.error.HTTPError as exc:
        return _Outcome(f"GET / answered HTTP {exc.code}")
    except (urllib.error.URLError, OSError) as exc:
        return _Outcome(f"GET {url} failed: {getattr(exc, 'reason', exc)}")


def _checker(command: PingCommand) -> tuple[str, Callable[[], _Outcome]]:
    from devkit.client.address import parse_address

    address = parse_address(command.address, None, None, False)
    if address.protocol == "grpc":
        shown = f"grpc{'s' if address.tls else ''}://{address.target}"
        return shown, lambda: _check_grpc(
            address.host, address.port, address.tls, command.target, command.timeout
        )
    scheme = "https" if address.tls else "http"
    return f"{scheme}://{address.target}", lambda: _check_http(
        scheme, address.host, address.port, command.timeout
    )


def ping(command: PingCommand, out: TextIO | None = None) -> bool:
    """Check ``command.address`` up to ``attempts`` times; True once enough checks passed."""
    out = out or sys.stdout
    shown, check = _checker(command)
    passed: list[float] = []
    for attempt in range(1, command.attempts + 1):
        started = time.perf_counter()
        outcome = check()
        took = (time.perf_counter() - started) * 1000
        prefix = f"ping {command.target} {shown} attempt {attempt}/{command.attempts}"
        if outcome.problem is None:
            passed.append(took)
            if outcome.degraded is None:
                print(f"{prefix}: healthy ({took:.0f} ms)", file=out)
            else:
                print(f"{prefix}: healthy but degraded, {outcome.degraded} ({took:.0f} ms)", file=out)
            if len(passed) >= command.min_successful:
                break
        else:
            print(f"{prefix}: not healthy, {outcome.problem}", file=out)
        if attempt < command.attempts:
            time.sleep(command.interval)
    if len(passed) >= command.min_successful:
        average = sum(passed) / len(passed)
        print(f"readiness check succeeded {len(passed)} times (avg. latency {average:.0f} ms)", file=out)
        return True
    print(
        f"readiness check failed: {len(passed)} of {command.attempts} attempt(s) healthy, "
        f"{command.min_successful} needed",
        file=out,
    )
    return False
