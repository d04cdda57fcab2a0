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
from devkit.testing.stateful.driver import FlowDriver
from devkit.testing.stateful.replicas import can_kill
from devkit.testing.stateful.reproduce import Reproduction, minimize
from devkit.testing.stateful.steps import Step
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

    def __repr__(self) -> str:
        call = Step.of("post", self.endpoint, self.docs, request_size=self.request_size)
        return "Post" + str(call).removeprefix("driver.post")

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
    ``faults=False`` / ``kills=False`` leave out fault and replica steps; ``check_ids``,
    ``strict``, ``seed`` (the fault network's) and ``timeout`` (per request) are
    :class:`FlowDriver`'s. ``settings`` defaults to :data:`DEFAULT_SETTINGS` (10 examples of
    up to 8 steps, no deadline); ``name`` is the class name Hypothesis prints
    (``state = FlowMachine()``) and names the printed test.
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

    def make_driver() -> FlowDriver:
        return FlowDriver(flow_factory, **options)

    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.driver = make_driver()
            self.steps: list[Step] = []
            self.failure: BaseException | None = None
            try:
                self.driver.start()
            except BaseException:
                note(self.reproduction().source())
                raise

        def _do(self, step: Step) -> None:
            self.steps.append(step)
            try:
                step.run(self.driver)
            except BaseException as exc:
                self.failure = exc  # teardown notes the reproduction, after Hypothesis' own steps
                raise

        def reproduction(self) -> Reproduction:
            """This run's steps as a test: cut down to what still fails, on the final failing run."""
            steps, replayed, failure = list(self.steps), False, None
            if self.failure is not None and _is_final():
                steps, failure = minimize(make_driver, steps, self.failure)
                replayed = True
            return Reproduction(name, flow_factory, options, steps, failure, replayed)

        @rule(request=posts)
        def post(self, request: Post) -> None:
            self._do(Step.of("post", request.endpoint, request.docs, request_size=request.request_size))

        if faults:

            @rule(fault=st.sampled_from(FAULTS), edge=st.sampled_from(edges))
            def inject(self, fault: str, edge: tuple[str, int | None]) -> None:
                """One rule for every kind of fault, so that posts stay a good share of the steps."""
                executor, replica = edge
                self._do(Step.of(fault, executor, replica=replica))

            @precondition(lambda self: self.driver.faulted)
            @rule()
            def heal(self) -> None:
                self._do(Step.of("heal"))

        if kills:

            @rule(replica=st.sampled_from(replicas))
            def kill_replica(self, replica: tuple[str, int, int]) -> None:
                executor, index, shard = replica
                if any((r.executor, r.replica, r.shard) == replica for r in self.driver.killable()):
                    self._do(Step.of("kill_replica", executor, index, shard=shard or None))

            @precondition(lambda self: bool(self.driver.killed))
            @rule()
            def restart_replicas(self) -> None:
                self._do(Step.of("restart_replicas"))

        def teardown(self) -> None:
            try:
                self.driver.close(check=self.failure is None)
            except BaseException as exc:
                self.failure = exc
                raise
            finally:
                if self.failure is not None:
                    note(self.reproduction().source())

    Machine.__name__ = Machine.__qualname__ = name
    Machine.TestCase.settings = settings if settings is not None else DEFAULT_SETTINGS
    return Machine


#: the faults the machine injects on gateway -> Executor edges (FlowDriver methods)
FAULTS = ("partition", "reset_peer", "latency")


def _is_final() -> bool:
    """Whether Hypothesis is replaying the shrunk failing example (the one it reports)."""
    from hypothesis.control import current_build_context

    try:
        return bool(current_build_context().is_final)
    except Exception:
        return False
