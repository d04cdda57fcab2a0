"""FlowDriver: one running Flow behind a fault network, driven step by step, checked after each.

Every step (a post, a fault, healing, killing or restarting a replica) is a method; each
ends by checking the invariants and raises :class:`InvariantViolation` naming the step and
what broke. The stateful machine calls these methods, and the reproduction it prints for a
shrunk failing run is a plain test calling them too:

    with FlowDriver(make_flow, endpoints=['/index']) as driver:
        driver.partition('encoder')
        driver.post('/index', [TextDoc(text='a')])

The invariants: every request is answered exactly once, by documents or by an error that
names an Executor of the Flow; a successful answer carries exactly the ids that were sent
(none lost, none duplicated); its documents validate as the endpoint's response schema;
every server not killed on purpose is alive; on close nothing is left running.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from docarray import BaseDoc, DocList

from devkit.client.response import Response
from devkit.errors import ExecutorError
from devkit.orchestrate.flow import Flow
from devkit.spec.topology import ExecutorPlan
from devkit.testing.contracts_schema import dtype_problems, is_untyped
from devkit.testing.faults import FakeNetwork
from devkit.testing.faults.edge import EdgeHandle
from devkit.testing.leaks import Snapshot, leaked_since, open_ports, snapshot
from devkit.testing.stateful.replicas import KilledReplica, can_kill, kill_replica, restart_replica
from devkit.wire import exception_from_status

__all__ = ["FlowDriver", "InvariantViolation", "PostOutcome", "Replica"]


class InvariantViolation(AssertionError):
    """A step of a :class:`FlowDriver` broke an invariant; the message names step and cause."""


@dataclass(frozen=True)
class Replica:
    """One local replica of an Executor of the driven Flow."""

    executor: str
    shard: int
    replica: int
    server: str  # its server name, 'encoder/rep-0'
    runtime: str


@dataclass
class PostOutcome:
    """What one :meth:`FlowDriver.post` got back: the ids of each answered request, the errors."""

    requests: int
    answered: list[list[str]] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)  # ExecutorErrors, or what the call raised


def _ids(ids: Iterable[str]) -> str:
    return ", ".join(ids) or "none"


class FlowDriver:
    """Start ``flow_factory()`` behind a :class:`FakeNetwork` and drive it one checked step at a time.

    ``endpoints`` are the ones posts may use (others are refused, naming these); the request
    and response schema of each come from the Executors' declarations (override with
    ``schemas={endpoint: (request, response)}``). Documents posted get ids ``d0, d1, ...``
    in posting order, so lost and duplicated ones can be named. ``check_ids=False`` leaves
    out the ids-in == ids-out check for Flows that legitimately add or drop documents.
    ``strict=True`` adds one: while no fault is in place and no replica is down, every
    request must succeed (an error then is a bug, not the network's doing).
    """

    def __init__(
        self,
        flow_factory: Callable[[], Flow],
        *,
        endpoints: Sequence[str] = ("/",),
        schemas: dict[str, tuple[type[BaseDoc] | None, type[BaseDoc] | None]] | None = None,
        seed: int = 0,
        timeout: float = 30.0,
        check_ids: bool = True,
        strict: bool = False,
    ) -> None:
        self._factory = flow_factory
        self.endpoints = tuple(e if e.startswith("/") else f"/{e}" for e in endpoints)
        self._schema_overrides = dict(schemas or {})
        self.seed = seed
        self.timeout = timeout
        self.check_ids = check_ids
        self.strict = strict
        self.flow: Flow | None = None
        self.network: FakeNetwork | None = None
        self.replicas: tuple[Replica, ...] = ()
        self.executors: tuple[str, ...] = ()
        self._plans: dict[str, ExecutorPlan] = {}
        self._handles: dict[tuple[str, int | None], EdgeHandle] = {}
        self._killed: dict[str, KilledReplica] = {}
        self._servers: frozenset[str] = frozenset()
        self._next_id = 0
        self._before: Snapshot | None = None
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FlowDriver:
        self._before = snapshot()
        self.network = FakeNetwork(seed=self.seed).start()
        try:
            flow = self._factory()
            if not isinstance(flow, Flow):
                raise TypeError(f"the Flow factory returned {type(flow).__name__}, not a Flow")
            flow.quiet = True
            self.network.attach(flow)
            self.flow = flow
            flow.start()
        except BaseException:
            self.network.close()
            raise
        self._plans = {plan.name: plan for plan in flow.topology.executors if not plan.external}
        self.executors = tuple(self._plans)
        self.replicas = tuple(
            Replica(plan.name, shard, replica, plan.worker(shard, replica).display_name, plan.runtime)
            for plan in self._plans.values()
            for shard, replica in plan.shard_replicas()
        )
        self._servers = frozenset(flow.alive_servers)
        return self

    def __enter__(self) -> FlowDriver:
        return self.start()

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(check=exc_type is None)

    def close(self, *, check: bool = True) -> None:
        """Heal, stop the Flow and the network; with ``check``, fail on anything left running."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.flow is not None:
                self.flow.close()
        finally:
            if self.network is not None:
                self.network.close()
        if not check or self._before is None:
            return
        leaked = leaked_since(self._before)
        ports = open_ports(self.flow.ports) if self.flow is not None else []
        leaked += [f"port {port}" for port in ports]
        if leaked:
            raise InvariantViolation(f"after the Flow was closed, still running: {', '.join(leaked)}")

    @property
    def _running(self) -> Flow:
        if self.flow is None or self._closed:
            raise RuntimeError("start the FlowDriver first (`with FlowDriver(...) as driver:`)")
        return self.flow

    # -- posting --------------------------------------------------------------------------
    def schemas(self, endpoint: str) -> tuple[type[BaseDoc], type[BaseDoc] | None]:
        """(request schema, response schema) of ``endpoint``; TextDoc when nothing is declared."""
        from devkit.testing.contracts import flow_schemas

        if endpoint in self._schema_overrides:
            request, response = self._schema_overrides[endpoint]
        else:
            flow = self.flow if self.flow is not None else self._factory()
            request, response = flow_schemas(flow, endpoint)
        if request is None or is_untyped(request):
            from docarray.documents import TextDoc  # imports every docarray document type: only when needed

            request = TextDoc
        if response is not None and is_untyped(response):
            response = None
        return request, response

    def post(
        self,
        endpoint: str,
        docs: Sequence[BaseDoc],
        *,
        request_size: int | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> PostOutcome:
        """Post ``docs`` (given ids d0, d1, ...) in requests of ``request_size`` and check the answers."""
        flow = self._running
        endpoint = endpoint if endpoint.startswith("/") else f"/{endpoint}"
        if endpoint not in self.endpoints:
            raise ValueError(f"endpoint {endpoint!r} is not one of this driver's {list(self.endpoints)}")
        request_schema, response_schema = self.schemas(endpoint)
        sent = DocList[request_schema]([self._numbered(doc) for doc in docs])  # type: ignore[valid-type]
        size = request_size or max(1, len(sent))
        chunks = [list(sent.id[i : i + size]) for i in range(0, len(sent), size)] if len(sent) else [[]]
        step = f"post({endpoint!r}, {len(sent)} document{'' if len(sent) == 1 else 's'} [{_ids(sent.id)}], request_size={size})"
        outcome = PostOutcome(requests=max(1, math.ceil(len(sent) / size)))
        answers: list[Response] = []
        failed: list[Response] = []
        try:
            flow.post(
                endpoint,
                sent,
                parameters,
                request_size=size,
                on_done=answers.append,
                on_error=failed.append,
                return_type=DocList[response_schema] if response_schema is not None else None,  # type: ignore[valid-type]
                timeout=self.timeout,
            )
        except Exception as exc:  # the whole call failed; it must still say which Executor
            self._check_names_executor(step, exc)
            self._check_healthy_answers(step, exc)
            outcome.errors.append(exc)
            self.check()
            return outcome
        for response in failed:
            error = exception_from_status(response.proto)
            assert error is not None
            self._check_names_executor(step, error)
            self._check_healthy_answers(step, error)
            outcome.errors.append(error)
        request_ids = [r.header.request_id for r in (*answers, *failed)]
        if len(request_ids) != outcome.requests or len(set(request_ids)) != len(request_ids):
            twice = sorted(i for i, n in Counter(request_ids).items() if n > 1)
            raise InvariantViolation(
                f"{step}: {outcome.requests} request(s) sent, {len(request_ids)} answer(s) received"
                + (f"; answered twice: {', '.join(twice)}" if twice else "")
            )
        unclaimed = list(chunks)
        for response in answers:
            got = self._decoded(step, response, response_schema)
            outcome.answered.append(got)
            if self.check_ids:
                self._check_ids(step, got, unclaimed)
        self.check()
        return outcome

    def _numbered(self, doc: BaseDoc) -> BaseDoc:
        numbered = doc.model_copy(update={"id": f"d{self._next_id}"})
        self._next_id += 1
        return numbered

    def _check_names_executor(self, step: str, error: Exception) -> None:
        """An ExecutorError must carry an Executor of the Flow; another error must name one
        (``Executor 'encoder' ...``), as a transport error reporting the gateway's cause does."""
        if isinstance(error, ExecutorError):
            named: str | None = error.executor
        else:
            named = next((name for name in self.executors if f"Executor {name!r}" in str(error)), None)
        if named not in self.executors:
            first = str(error).split("\n", 1)[0]
            raise InvariantViolation(
                f"{step}: {type(error).__name__} names no Executor of the Flow {list(self.executors)}: {first}"
            ) from error

    def _check_healthy_answers(self, step: str, error: Exception) -> None:
        if self.strict and not self.faulted and not self._killed:
            raise InvariantViolation(
                f"{step}: failed although no fault was in place and every replica was up: {error.args[0] if error.args else error}"
            )

    def _decoded(self, step: str, response: Response, schema: type[BaseDoc] | None) -> list[str]:
        from pydantic import ValidationError

        name = schema.__name__ if schema is not None else "documents"
        try:
            docs = response.docs
        except (ValidationError, ValueError, TypeError) as exc:
            raise InvariantViolation(f"{step}: the answer does not validate as {name}: {exc}") from exc
        problems = [f"document {doc.id}: {text}" for doc in docs for text in dtype_problems(doc)]
        if problems:
            raise InvariantViolation(f"{step}: the answer does not honour {name}: {'; '.join(problems)}")
        return list(docs.id)

    def _check_ids(self, step: str, got: list[str], unclaimed: list[list[str]]) -> None:
        """``got`` must be exactly the ids of one request not answered yet."""
        match = next((c for c in unclaimed if set(c) & set(got)), None)
        if match is None:
            match = next((c for c in unclaimed if not c), None) if not got else None
        if match is None:
            expected = unclaimed[0] if unclaimed and not got else None
            what = f"lost {_ids(expected)}" if expected else f"carries ids that were not sent: {_ids(got)}"
            raise InvariantViolation(f"{step}: an answer {what}")
        unclaimed.remove(match)
        sent, received = Counter(match), Counter(got)
        lost, extra = sorted((sent - received).elements()), sorted((received - sent).elements())
        if lost or extra:
            parts = ([f"lost {_ids(lost)}"] if lost else []) + (
                [f"duplicated or added {_ids(extra)}"] if extra else []
            )
            raise InvariantViolation(
                f"{step}: the answer to the request of [{_ids(match)}] came back as [{_ids(got)}]: {'; '.join(parts)}"
            )

    # -- faults ---------------------------------------------------------------------------
    def _edge(self, executor: str, replica: int | None) -> EdgeHandle:
        plan = self._plan(executor)
        if replica is not None and not 0 <= replica < plan.replicas:
            raise ValueError(f"Executor {executor!r} has replicas 0..{plan.replicas - 1}, not {replica}")
        key = (executor, replica)
        if key not in self._handles:
            assert self.network is not None
            self._handles[key] = self.network.edge("gateway", executor, replica=replica)
        return self._handles[key]

    def _plan(self, executor: str) -> ExecutorPlan:
        self._running  # noqa: B018 -- raises when not started
        try:
            return self._plans[executor]
        except KeyError:
            raise ValueError(
                f"no local Executor {executor!r} in the Flow (it has {list(self.executors)})"
            ) from None

    def partition(self, executor: str, replica: int | None = None) -> None:
        """Cut the gateway -> ``executor`` edge (one replica, or all) until :meth:`heal`."""
        self._edge(executor, replica).partition()
        self.check()

    def reset_peer(self, executor: str, replica: int | None = None, times: int = 1) -> None:
        """Reset the next ``times`` connections carrying data from the gateway to ``executor``."""
        self._edge(executor, replica).reset_peer(times=times)
        self.check()

    def latency(self, executor: str, seconds: float = 0.05, replica: int | None = None) -> None:
        """Delay ``executor``'s answers to the gateway by ``seconds`` until :meth:`heal`."""
        self._edge(executor, replica).latency(seconds)
        self.check()

    def heal(self) -> None:
        """Remove every fault from every edge."""
        for handle in self._handles.values():
            handle.clear()
        self.check()

    @property
    def faulted(self) -> bool:
        """Whether a fault is in place on some edge."""
        return any(handle.faults for handle in self._handles.values())

    # -- replicas -------------------------------------------------------------------------
    def killable(self) -> list[Replica]:
        """The replicas that can be killed now (alive, on a runtime that can bring them back)."""
        flow = self._running
        return [
            r for r in self.replicas if r.server not in self._killed and can_kill(flow, r.runtime) is None
        ]

    @property
    def killed(self) -> list[str]:
        """Server names of the replicas killed and not restarted yet."""
        return list(self._killed)

    def _replica(self, executor: str, replica: int, shard: int) -> Replica:
        self._plan(executor)
        for candidate in self.replicas:
            if (candidate.executor, candidate.shard, candidate.replica) == (executor, shard, replica):
                return candidate
        raise ValueError(f"Executor {executor!r} has no replica {replica} of shard {shard}")

    def kill_replica(self, executor: str, replica: int = 0, shard: int = 0) -> None:
        """Kill one replica without letting it drain (SIGKILL on the process runtime)."""
        target = self._replica(executor, replica, shard)
        why = can_kill(self._running, target.runtime)
        if why is not None:
            raise ValueError(f"cannot kill {target.server}: {why}")
        if target.server in self._killed:
            raise ValueError(f"{target.server} is already killed; restart it first")
        self._killed[target.server] = kill_replica(self._running, target.server)
        self.check()

    def restart_replica(self, executor: str, replica: int = 0, shard: int = 0) -> None:
        """Bring a killed replica back on its port (waits until it listens)."""
        target = self._replica(executor, replica, shard)
        killed = self._killed.pop(target.server, None)
        if killed is None:
            raise ValueError(f"{target.server} was not killed; kill_replica() it first")
        restart_replica(self._running, killed, self.timeout)
        self.check()

    def restart_replicas(self) -> None:
        """Bring back every killed replica."""
        for server, killed in list(self._killed.items()):
            del self._killed[server]
            restart_replica(self._running, killed, self.timeout)
        self.check()

    # -- the invariant between steps ------------------------------------------------------
    def check(self) -> None:
        """Every server of the Flow that was not killed on purpose is alive."""
        flow = self._running
        alive = set(flow.alive_servers)
        expected = self._servers - set(self._killed)
        dead = sorted(expected - alive)
        if dead:
            raise InvariantViolation(f"server(s) {', '.join(dead)} died without being killed")
