"""The stateful Flow fuzzer: green on a correct Flow, and a planted bug is found, shrunk to a
short sequence, and printed as a test that fails the same way when run."""

from __future__ import annotations

import threading

import pytest
from docarray import BaseDoc, DocList
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from devkit import Executor, Flow, requests
from devkit.testing.stateful import FlowDriver, InvariantViolation, flow_state_machine


class Doc(BaseDoc):
    text: str = ""
    rank: int = 0


class Echo(Executor):
    @requests(on="/index")
    def index(self, docs: DocList[Doc], **kwargs) -> DocList[Doc]:
        for doc in docs:
            doc.rank += 1
        return docs


class DropsTheThird(Executor):
    """The planted bug: given exactly three documents it answers with two."""

    @requests(on="/index")
    def index(self, docs: DocList[Doc], **kwargs) -> DocList[Doc]:
        return DocList[Doc](list(docs)[:2]) if len(docs) == 3 else docs


class DuplicatesAfterRestart(Executor):
    """The planted bug: a replica that was restarted answers with its first document twice."""

    started: dict[str, int] = {}

    def __init__(self, run: str = "", **kwargs):
        super().__init__(**kwargs)
        self.restarted = DuplicatesAfterRestart.started.get(run, 0) > 0
        DuplicatesAfterRestart.started[run] = DuplicatesAfterRestart.started.get(run, 0) + 1

    @requests(on="/index")
    def index(self, docs: DocList[Doc], **kwargs) -> DocList[Doc]:
        if self.restarted and len(docs):
            return DocList[Doc]([*docs, docs[0]])
        return docs


def make_flow():
    return Flow().add(uses=Echo, name="encoder", replicas=2).add(uses=Echo, name="ranker")


def make_dropping_flow():
    return Flow().add(uses=DropsTheThird, name="encoder")


_runs = iter(range(10**9))


def make_duplicating_flow():
    return Flow().add(uses=DuplicatesAfterRestart, uses_with={"run": f"run-{next(_runs)}"}, name="encoder")


def bounded(**changes) -> settings:
    """Few short examples, the same ones every run (derandomize), nothing written to disk."""
    options = dict(
        max_examples=8,
        stateful_step_count=6,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink],
    )
    options.update(changes)
    return settings(**options)


def failing_report(machine) -> tuple[str, list[str], str]:
    """Run ``machine`` expecting a failure: (message, Hypothesis' steps, the printed reproduction)."""
    with pytest.raises(AssertionError) as failure:
        run_state_machine_as_test(machine, settings=bounded(max_examples=100, stateful_step_count=8))
    notes = getattr(failure.value, "__notes__", [])
    steps = [line for line in notes if line.startswith("state.")]
    (reproduction,) = [line for line in notes if line.startswith("# devkit:")]
    return str(failure.value), steps, reproduction


# what a user writes: one line makes a test class of their Flow
TestEchoFlow = flow_state_machine(make_flow, endpoints=["/index"], settings=bounded(max_examples=5)).TestCase


@pytest.mark.timeout(180)
def test_the_machine_runs_green_against_a_correct_flow_with_faults_and_kills():
    machine = flow_state_machine(make_flow, endpoints=["/index"])
    assert {"post", "inject", "heal", "kill_replica", "restart_replicas"} <= set(vars(machine))
    run_state_machine_as_test(machine, settings=bounded())


def driver_lines(reproduction: str) -> list[str]:
    return [line.strip() for line in reproduction.splitlines() if line.strip().startswith("driver.")]


@pytest.mark.timeout(180)
def test_a_dropped_document_is_found_and_shrunk_to_the_one_post_of_three():
    message, steps, reproduction = failing_report(
        flow_state_machine(make_dropping_flow, endpoints=["/index"])
    )
    assert "came back as [" in message and "lost d" in message
    assert steps[-2:] == ["state.post(request=Post('/index', [Doc(), Doc(), Doc()]))", "state.teardown()"]
    assert "    with FlowDriver(make_dropping_flow, endpoints=['/index']) as driver:" in reproduction
    assert driver_lines(reproduction) == ["driver.post('/index', [Doc(), Doc(), Doc()])"]
    assert (
        "# it fails with InvariantViolation: post('/index', 3 documents [d0, d1, d2], request_size=3): "
        "the answer to the request of [d0, d1, d2] came back as [d0, d1]: lost d2"
    ) in reproduction


@pytest.mark.timeout(180)
def test_the_printed_reproduction_runs_and_fails_the_same_way():
    _, _, reproduction = failing_report(flow_state_machine(make_dropping_flow, endpoints=["/index"]))
    namespace: dict[str, object] = {}
    exec(compile(reproduction, "<reproduction>", "exec"), namespace)
    (test,) = [value for name, value in namespace.items() if name.startswith("test_")]
    with pytest.raises(InvariantViolation) as replayed:
        test()
    assert f"# it fails with InvariantViolation: {replayed.value}" in reproduction


@pytest.mark.timeout(240)
def test_a_duplicate_after_a_restart_is_shrunk_to_kill_restart_post():
    machine = flow_state_machine(make_duplicating_flow, endpoints=["/index"], faults=False)
    message, steps, reproduction = failing_report(machine)
    assert "duplicated or added d" in message
    assert "state.restart_replicas()" in steps
    assert driver_lines(reproduction) == [
        "driver.kill_replica('encoder', 0)",
        "driver.restart_replicas()",
        "driver.post('/index', [Doc()])",
    ]


def test_a_lambda_factory_is_printed_as_its_source_after_what_it_reads():
    name = "dropper"
    machine = flow_state_machine(
        lambda: Flow().add(uses=DropsTheThird, name=name), endpoints=["/index"], kills=False
    )
    _, _, reproduction = failing_report(machine)
    assert (
        "    name = 'dropper'\n"
        "    with FlowDriver(lambda: Flow().add(uses=DropsTheThird, name=name), endpoints=['/index']) as driver:"
    ) in reproduction
    namespace = {"Flow": Flow, "DropsTheThird": DropsTheThird}  # as in the module it is pasted into
    exec(compile(reproduction, "<reproduction>", "exec"), namespace)
    with pytest.raises(InvariantViolation, match="lost d2"):
        namespace["test_flow_machine_reproduction"]()  # type: ignore[operator]


def test_an_error_during_a_partition_names_the_executor_and_healing_brings_answers_back():
    with FlowDriver(make_flow, endpoints=["/index"]) as driver:
        driver.partition("ranker")
        failed = driver.post("/index", [Doc(text="a"), Doc(text="b")])
        driver.heal()
        answered = driver.post("/index", [Doc(text="c")])
    assert [error.executor for error in failed.errors] == ["ranker"]
    assert failed.answered == []
    assert answered.answered == [["d2"]] and answered.errors == []


def test_requests_of_a_post_are_each_answered_once_with_their_own_ids():
    with FlowDriver(make_flow, endpoints=["/index"]) as driver:
        outcome = driver.post("/index", [Doc(text=str(i)) for i in range(5)], request_size=2)
    assert outcome.requests == 3
    assert sorted(outcome.answered) == [["d0", "d1"], ["d2", "d3"], ["d4"]]


def test_a_killed_replica_is_out_until_restarted_and_a_kill_is_checked():
    with FlowDriver(make_dropping_flow, endpoints=["/index"]) as driver:
        driver.kill_replica("encoder", 0)
        assert driver.killed == ["encoder/rep-0"]
        down = driver.post("/index", [Doc()])
        with pytest.raises(ValueError, match="already killed"):
            driver.kill_replica("encoder", 0)
        driver.restart_replicas()
        up = driver.post("/index", [Doc()])
    assert [error.executor for error in down.errors] == ["encoder"]
    assert up.answered == [["d1"]]


class Scored(BaseDoc):
    score: float


class AnswersUnscored(Executor):
    """Declares Scored answers but sends the request's documents back."""

    @requests(on="/index")
    def index(self, docs: DocList[Doc], **kwargs) -> DocList[Scored]:
        return docs


def test_an_answer_that_does_not_validate_as_the_response_schema_fails_the_post():
    with FlowDriver(lambda: Flow().add(uses=AnswersUnscored, name="scorer"), endpoints=["/index"]) as driver:
        assert driver.schemas("/index") == (Doc, Scored)
        with pytest.raises(InvariantViolation, match=r"the answer does not validate as Scored(.|\n)*score"):
            driver.post("/index", [Doc(text="a")])


class LeavesAThread(Executor):
    """Starts a devkit-named thread it never stops: the driver's close must name it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stop = threading.Event()
        threading.Thread(target=self.stop.wait, name="devkit-left-behind", daemon=True).start()

    @requests(on="/index")
    def index(self, docs: DocList[Doc], **kwargs) -> DocList[Doc]:
        return docs


def test_a_thread_left_running_fails_the_close():
    driver = FlowDriver(lambda: Flow().add(uses=LeavesAThread, name="leaky"), endpoints=["/index"]).start()
    try:
        with pytest.raises(InvariantViolation, match="still running: thread 'devkit-left-behind'"):
            driver.close()
    finally:
        for thread in threading.enumerate():
            if thread.name == "devkit-left-behind":
                thread._target.__self__.set()  # type: ignore[attr-defined]


def test_unknown_names_are_refused_naming_what_exists():
    with FlowDriver(make_flow, endpoints=["/index"]) as driver:
        with pytest.raises(
            ValueError, match=r"no local Executor 'nope' in the Flow \(it has \['encoder', 'ranker'\]\)"
        ):
            driver.partition("nope")
        with pytest.raises(ValueError, match=r"replicas 0\.\.1, not 5"):
            driver.partition("encoder", replica=5)
        with pytest.raises(ValueError, match=r"not one of this driver's \['/index'\]"):
            driver.post("/search", [Doc()])


class RefusesEmptyText(Executor):
    @requests(on="/index")
    def index(self, docs: DocList[Doc], **kwargs) -> DocList[Doc]:
        if any(not doc.text for doc in docs):
            raise ValueError("empty text")
        return docs


def test_strict_fails_an_error_while_the_flow_is_healthy_and_names_the_executor():
    machine = flow_state_machine(
        lambda: Flow().add(uses=RefusesEmptyText, name="checker"), endpoints=["/index"], strict=True
    )
    message, _, reproduction = failing_report(machine)
    assert "failed although no fault was in place and every replica was up" in message
    assert "Executor 'checker' raised ValueError" in message
    assert driver_lines(reproduction) == ["driver.post('/index', [Doc()])"]
    assert "strict=True) as driver:" in reproduction


def test_without_strict_an_error_naming_the_executor_is_an_answer():
    with FlowDriver(
        lambda: Flow().add(uses=RefusesEmptyText, name="checker"), endpoints=["/index"]
    ) as driver:
        outcome = driver.post("/index", [Doc(text="x"), Doc()], request_size=1)
    assert outcome.answered == [["d0"]]
    assert [error.executor for error in outcome.errors] == ["checker"]


@pytest.mark.devkit_runtimes("thread", "process")
@pytest.mark.timeout(300)
def test_the_machine_runs_green_on_the_runtime_the_plugin_chose(devkit_runtime):
    built: list[Flow] = []

    def make():  # no runtime=: the devkit_runtimes marker chooses it, kills included
        built.append(Flow().add(uses=Echo, name="encoder", replicas=2))
        return built[-1]

    machine = flow_state_machine(make, endpoints=["/index"])
    examples = 2 if devkit_runtime == "process" else 8
    run_state_machine_as_test(machine, settings=bounded(max_examples=examples, stateful_step_count=5))
    assert {flow.topology.runtime for flow in built} == {devkit_runtime}
