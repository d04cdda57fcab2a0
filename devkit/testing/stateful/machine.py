"""``flow_state_machine``: a Hypothesis state machine that fuzzes a running Flow.

Each example starts the Flow behind a fault network (:class:`FlowDriver`) and runs a
sequence of steps: posts of documents drawn from the endpoints' request schemas, faults on
gateway -> Executor edges (partition, reset_peer, latency) and healing, killing replicas
and bringing them back. Every step checks the driver's invariants. When a run fails,
Hypothesis shrinks it to the shortest failing sequence and the report carries it twice:
Hypothesis' own ``state.post(...)`` steps, and a pytest test calling :class:`FlowDriver`
that fails the same way, to paste next to the Flow factory.

    TestMyFlow = flow_state_machine(lambda: Flow().add(uses=MyExec), endpoints=['/index']).TestCase

Scaling replicas up and down is not a step: devkit's Flow has no scale API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from docarray import BaseDoc
from hypothesis import HealthCheck, Phase, note
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from devkit.orchestrate.flow import Flow
from devkit.testing.stateful.codegen import Code, callable_source
from devkit.testing.stateful.driver import FlowDriver
from devkit.testing.stateful.replicas import can_kill
from devkit.testing.strategies import docs_strategy

__all__ = ["DEFAULT_SETTINGS", "FAULTS", "Post", "flow_state_machine"]

#: Small enough that a run takes seconds on a thread-runtime Flow.
DEFAULT_SETTINGS = Settings(
    max_examples=10,
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],  # no explain
)


class Post:
    """The arguments of one post step; its repr is the source that builds it."""

    def __init__(self, endpoint: str, docs: Sequence[BaseDoc], request_size: int | None = None) -> None:
        self.endpoint = endpoint
        self.docs = list(docs)
        self.request_size = request_size

    def arguments(self, code: Code) -> str:
        """``'/index', [Doc(...)], request_size=2`` as :meth:`FlowDriver.post` takes them."""
        docs = ", ".join(code.doc(doc) for doc in self.docs)
        size = "" if self.request_size is None else f", request_size={self.request_size}"
        return f"{self.endpoint!r}, [{docs}]{size}"

    def __repr__(self) -> str:
        return f"Post({self.arguments(Code())})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis prints steps with this
        printer.text(repr(self))


def flow_state_machine(
    flow_factory: Callable[[], Flow],
    *,
    endpoints: Sequence[str] = ("/",),
    max_docs: int = 4,
    faults: bool = True,
    kills: bool = True,
    schemas: Mapping[str, tuple[type[BaseDoc] | None, type[BaseDoc] | None]] | None = None,
    overrides: Mapping[str, Any] | None = None,
    check_ids: bool = True,
    strict: bool = False,
    seed: int = 0,
    timeout: float = 30.0,
    settings: Settings | None = None,
    name: str = "FlowMachine",
) -> type[RuleBasedStateMachine]:
    """A RuleBasedStateMachine class fuzzing the Flows ``flow_factory()`` builds; use its ``.TestCase``.

    ``flow_factory`` builds a fresh, unstarted Flow per example (on the default runtime
    unless it names one; thread and process work). Posts go to ``endpoints``, with 1 to
    ``max_docs`` documents drawn from each endpoint's request schema (``overrides`` maps
    field names to strategies, as for :func:`~devkit.testing.strategies.docs_strategy`).
    ``faults=False`` / ``kills=False`` leave out fault and replica steps; ``check_ids`` and
    ``strict`` are :class:`FlowDriver`'s. ``settings``
    defaults to :data:`DEFAULT_SETTINGS` (10 examples of up to 8 steps, no deadline).
    """
    options: dict[str, Any] = {
        "endpoints": [e if e.startswith("/") else f"/{e}" for e in endpoints],
        "schemas": dict(schemas) if schemas else None,
        "seed": seed,
        "timeout": timeout,
        "check_ids": check_ids,
        "strict": strict,
    }
    template = FlowDriver(flow_factory, **options)
    probe = flow_factory()
    if not isinstance(probe, Flow):
        raise TypeError(f"flow_factory must return a Flow, got {type(probe).__name__}")
    plans = [plan for plan in probe.topology.executors if not plan.external]
    edges = [(plan.name, None) for plan in plans] + [
        (plan.name, r) for plan in plans if plan.replicas > 1 for r in range(plan.replicas)
    ]
    replicas = [
        (plan.name, replica, shard)
        for plan in plans
        if can_kill(probe, plan.runtime) is None
        for shard, replica in plan.shard_replicas()
    ]
    posts = st.one_of(
        *(
            st.builds(
                Post,
                st.just(endpoint),
                st.lists(
                    docs_strategy(template.schemas(endpoint)[0], overrides=overrides),
                    min_size=1,
                    max_size=max_docs,
                ),
                st.none() | st.integers(1, max_docs),
            )
            for endpoint in options["endpoints"]
        )
    )
    faults = faults and bool(edges)
    kills = kills and bool(replicas)

    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.driver = FlowDriver(flow_factory, **options)
            self.steps: list[str] = []
            self.failed = False
            try:
                self.driver.start()
            except BaseException:
                note(self.reproduction())
                raise

        def _do(self, line: str | None, action: Callable[[], Any]) -> None:
            if line is not None:
                self.steps.append(line)
            try:
                action()
            except BaseException:
                self.failed = True  # teardown notes the reproduction, after Hypothesis' own steps
                raise

        def reproduction(self) -> str:
            """A pytest test that replays this run's steps (the shrunk ones, when it failed)."""
            code = Code()
            body = [_render(line, code) for line in self.steps]
            factory = callable_source(flow_factory, code)
            code.need(FlowDriver, module="devkit.testing.stateful")
            extra = "".join(
                f", {key}={value!r}"
                for key, value in options.items()
                if key not in ("endpoints", "schemas") and value != _DEFAULTS[key]
            )
            if options["schemas"]:
                schemas_code = ", ".join(
                    f"{endpoint!r}: ({_name(request, code)}, {_name(response, code)})"
                    for endpoint, (request, response) in options["schemas"].items()
                )
                extra += f", schemas={{{schemas_code}}}"
            lines = [
                "# devkit: the failing run as a test; paste it into the module that defines the Flow factory",
                *code.imports(),
                "",
                "",
                f"def test_{_snake(name)}_reproduction():",
                f"    with FlowDriver({factory}, endpoints={options['endpoints']!r}{extra}) as driver:",
                *(f"        {line}" for line in body or ["pass"]),
            ]
            return "\n".join(lines)

        @rule(request=posts)
        def post(self, request: Post) -> None:
            self._do(
                _Line("post", request),
                lambda: self.driver.post(request.endpoint, request.docs, request_size=request.request_size),
            )

        if faults:
            edge_targets = st.sampled_from(edges)

            @rule(fault=st.sampled_from(FAULTS), edge=edge_targets)
            def inject(self, fault: str, edge: tuple[str, int | None]) -> None:
                """One rule for every kind of fault, so that posts stay a good share of the steps."""
                executor, replica = edge
                where = "" if replica is None else f", replica={replica}"
                self._do(
                    f"driver.{fault}({executor!r}{where})",
                    lambda: getattr(self.driver, fault)(executor, replica=replica),
                )

            @precondition(lambda self: self.driver.faulted)
            @rule()
            def heal(self) -> None:
                self._do("driver.heal()", self.driver.heal)

        if kills:

            @rule(replica=st.sampled_from(replicas))
            def kill_replica(self, replica: tuple[str, int, int]) -> None:
                executor, index, shard = replica
                if not any((r.executor, r.replica, r.shard) == replica for r in self.driver.killable()):
                    return  # already down: nothing to do
                line = f"driver.kill_replica({executor!r}, {index}" + (f", shard={shard})" if shard else ")")
                self._do(line, lambda: self.driver.kill_replica(executor, index, shard))

            @precondition(lambda self: bool(self.driver.killed))
            @rule()
            def restart_replicas(self) -> None:
                self._do("driver.restart_replicas()", self.driver.restart_replicas)

        def teardown(self) -> None:
            try:
                self.driver.close(check=not self.failed)
            except BaseException:
                self.failed = True
                raise
            finally:
                if self.failed:
                    note(self.reproduction())

    Machine.__name__ = Machine.__qualname__ = name
    Machine.TestCase.settings = settings if settings is not None else DEFAULT_SETTINGS
    return Machine


#: the faults the machine injects on gateway -> Executor edges (FlowDriver methods)
FAULTS = ("partition", "reset_peer", "latency")

_DEFAULTS: dict[str, Any] = {"seed": 0, "timeout": 30.0, "check_ids": True, "strict": False}


class _Line(str):
    """A post step: rendered when the reproduction is printed, so its imports are collected."""

    post: Post

    def __new__(cls, method: str, post: Post) -> _Line:
        line = super().__new__(cls, f"driver.{method}(...)")
        line.post = post
        return line


def _render(line: str, code: Code) -> str:
    if isinstance(line, _Line):
        return f"driver.post({line.post.arguments(code)})"
    return line


def _name(schema: type[BaseDoc] | None, code: Code) -> str:
    return "None" if schema is None else code.need(schema)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))
