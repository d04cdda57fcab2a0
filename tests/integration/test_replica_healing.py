"""A dead replica leaves the rotation at once, is restarted, and comes back when healthy.

The gateway ejects a replica that fails to answer (as Envoy's outlier detection does) and
probes its gRPC health service until it passes; on the process runtime the orchestrator
restarts a child that dies, on the same port. ``devkit ping`` names what is down.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import threading
import time
from collections import Counter

import pytest
from docarray import BaseDoc, DocList

from devkit import Deployment, Executor, Flow, requests
from devkit.client.ping import PingCommand, ping
from devkit.errors import ExecutorError


class TextDoc(BaseDoc):
    text: str = ""


class WhoAmI(Executor):
    """Answers with the id of the process that served the document."""

    @requests
    def who(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = str(os.getpid())


def _docs(prefix: str, count: int) -> DocList[TextDoc]:
    return DocList[TextDoc]([TextDoc(id=f"{prefix}-{i}") for i in range(count)])


def _served_by(flow, count: int = 10) -> Counter[str]:
    got = flow.post("/", _docs("probe", count), request_size=1, return_type=DocList[TextDoc])
    return Counter(doc.text for doc in got)


@pytest.mark.process
def test_a_killed_replica_is_ejected_and_later_requests_do_not_retry_it(network, flow_factory):
    flow = network.attach(
        flow_factory(runtime="process", restart_on_crash=False).add(uses=WhoAmI, name="encoder", replicas=2)
    )
    dead = network.edge("gateway", "encoder", replica=0, layer="grpc")
    alive = network.edge("gateway", "encoder", replica=1, layer="grpc")
    with flow:
        survivor = str(flow.pids["encoder/rep-1"])
        os.kill(flow.pids["encoder/rep-0"], signal.SIGKILL)
        got = flow.post("/", _docs("doc", 20), request_size=1, prefetch=1, return_type=DocList[TextDoc])
    assert Counter(doc.id for doc in got) == Counter(f"doc-{i}" for i in range(20))
    assert set(got.text) == {survivor}
    # at most the request that found it dead (the proxy may answer that one before counting
    # it); it was out of the rotation afterwards, where every other request used to try it first
    assert dead.stats.requests <= 1
    assert alive.stats.requests == 20


@pytest.mark.slow
@pytest.mark.process
def test_a_replica_killed_under_load_is_restarted_and_serves_again(flow_factory, client_factory, caplog):
    caplog.set_level(logging.INFO, logger="devkit.supervisor")
    flow = flow_factory(runtime="process").add(uses=WhoAmI, name="encoder", replicas=2)
    with flow:
        victim = flow.pids["encoder/rep-0"]
        clients = [client_factory(flow) for _ in range(4)]
        answered: Counter[str] = Counter()
        lock = threading.Lock()
        some_answered = threading.Event()
        failures: list[BaseException] = []

        def count(response) -> None:
            with lock:
                answered.update(doc.id for doc in response.docs)
                if sum(answered.values()) >= 40:
                    some_answered.set()

        def load(number: int) -> None:
            try:
                clients[number].post("/", _docs(f"c{number}", 60), request_size=1, prefetch=4, on_done=count)
            except BaseException as exc:
                failures.append(exc)
                some_answered.set()

        threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        assert some_answered.wait(30)
        os.kill(victim, signal.SIGKILL)
        for thread in threads:
            thread.join(60)
        assert not failures
        assert answered == Counter(f"c{n}-{i}" for n in range(4) for i in range(60))

        deadline = time.monotonic() + 30  # restarted, healthy, and back in the gateway's rotation
        while flow.pids["encoder/rep-0"] == victim or not flow.dry_run():
            assert time.monotonic() < deadline, "the killed replica was not restarted"
        restarted = str(flow.pids["encoder/rep-0"])
        while restarted not in _served_by(flow):
            assert time.monotonic() < deadline, "the restarted replica gets no traffic"
    (death,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "Executor 'encoder' replica 0" in death
    assert "SIGKILL" in death
    assert "restarting it" in death


@pytest.mark.process
def test_restart_on_crash_false_leaves_a_dead_replica_down(flow_factory):
    flow = flow_factory(runtime="process", restart_on_crash=False).add(
        uses=WhoAmI, name="encoder", replicas=2
    )
    with flow:
        victim = flow.pids["encoder/rep-0"]
        os.kill(victim, signal.SIGKILL)
        survivor = str(flow.pids["encoder/rep-1"])
        assert set(_served_by(flow)) == {survivor}
        assert not flow.dry_run()
        assert "encoder/rep-0" not in flow.alive_servers


class _Fatal(Executor):
    @requests(on="/fatal")
    def fatal(self, **kwargs):
        raise MemoryError("the model no longer fits")


class _LogWatch(logging.Handler):
    """Sets ``seen`` when a record containing ``text`` is logged (from any thread)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@pytest.mark.process
def test_a_replica_that_exits_cleanly_after_exit_on_exceptions_is_not_restarted(flow_factory, caplog):
    caplog.set_level(logging.INFO, logger="devkit.supervisor")
    watch = _LogWatch("exited cleanly (code 0); not restarting it")
    logging.getLogger("devkit.supervisor").addHandler(watch)
    flow = flow_factory(runtime="process").add(
        uses=_Fatal, name="fragile", exit_on_exceptions=["MemoryError"]
    )
    try:
        with flow:
            with pytest.raises(ExecutorError, match="MemoryError"):
                flow.post("/fatal")
            assert watch.seen.wait(30)
            assert "fragile/rep-0" not in flow.alive_servers
    finally:
        logging.getLogger("devkit.supervisor").removeHandler(watch)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.process
def test_a_killed_gateway_is_restarted_on_its_port(flow_factory, client_factory):
    watch = _LogWatch("restarted (pid")
    logging.getLogger("devkit.supervisor").addHandler(watch)
    flow = flow_factory(runtime="process").add(uses=WhoAmI, name="encoder")
    try:
        with flow:
            victim, encoder = flow.pids["Flow/gateway"], str(flow.pids["encoder/rep-0"])
            os.kill(victim, signal.SIGKILL)
            assert watch.seen.wait(30)
            assert flow.pids["Flow/gateway"] != victim
            got = client_factory(flow).post("/", _docs("after", 3), return_type=DocList[TextDoc])
    finally:
        logging.getLogger("devkit.supervisor").removeHandler(watch)
    assert got.text == [encoder] * 3


def _ping(target: str, port: int) -> str:
    out = io.StringIO()
    command = PingCommand(
        target, f"grpc://127.0.0.1:{port}", timeout=3.0, attempts=1, min_successful=1, interval=0
    )
    passed = ping(command, out)
    return ("passed: " if passed else "failed: ") + out.getvalue()


class _Flaky(Executor):
    """Refuses to start while the file named by ``block`` exists."""

    def __init__(self, block: str = "", **kwargs):
        super().__init__(**kwargs)
        if block and os.path.exists(block):
            raise RuntimeError(f"{block} exists")

    @requests
    def who(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = str(os.getpid())


@pytest.mark.process
def test_a_restart_that_fails_is_retried_with_backoff_until_it_starts(flow_factory, client_factory, tmp_path):
    block = tmp_path / "block"
    failed, restarted = _LogWatch("could not be restarted"), _LogWatch("restarted (pid")
    for watch in (failed, restarted):
        logging.getLogger("devkit.supervisor").addHandler(watch)
    flow = flow_factory(runtime="process").add(uses=_Flaky, uses_with={"block": str(block)}, name="encoder")
    try:
        with flow:
            block.touch()
            os.kill(flow.pids["encoder/rep-0"], signal.SIGKILL)
            assert failed.seen.wait(30)  # the first restart raised in __init__
            block.unlink()
            assert restarted.seen.wait(30)  # a later one, after a longer delay, started
            got = client_factory(flow).post("/", _docs("after", 2), return_type=DocList[TextDoc])
            assert got.text == [str(flow.pids["encoder/rep-0"])] * 2
    finally:
        for watch in (failed, restarted):
            logging.getLogger("devkit.supervisor").removeHandler(watch)


@pytest.mark.process
def test_replicas_killed_together_are_restarted_together(flow_factory, client_factory):
    flow = flow_factory(runtime="process").add(uses=WhoAmI, name="encoder", replicas=2)
    with flow:
        victims = {name: pid for name, pid in flow.pids.items() if name.startswith("encoder/")}
        for pid in victims.values():
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while any(flow.pids[name] == pid for name, pid in victims.items()) or not flow.dry_run():
            assert time.monotonic() < deadline, "the killed replicas were not restarted"
        restarted = {str(flow.pids[name]) for name in victims}
        served: set[str] = set()
        while served != restarted:
            served.update(_served_by(flow))
            assert time.monotonic() < deadline, "a restarted replica gets no traffic"


@pytest.mark.process
def test_ping_names_the_executor_that_is_down_and_the_gateway_is_degraded(flow_factory):
    flow = flow_factory(runtime="process", restart_on_crash=False).add(uses=WhoAmI, name="encoder")
    with flow:
        assert _ping("flow", flow.port).startswith("passed: ")
        os.kill(flow.pids["encoder/rep-0"], signal.SIGKILL)
        flow_report = _ping("flow", flow.port)
        gateway_report = _ping("gateway", flow.port)
    assert flow_report.startswith("failed: ")
    assert "encoder at 127.0.0.1:" in flow_report
    assert "DEADLINE_EXCEEDED" not in flow_report
    assert gateway_report.startswith("passed: ")
    assert "healthy but degraded" in gateway_report and "encoder at 127.0.0.1:" in gateway_report


def test_restart_on_crash_is_a_flow_and_deployment_argument_in_yaml_too(tmp_path):
    flow_yml = tmp_path / "flow.yml"
    flow_yml.write_text("jtype: Flow\nwith:\n  restart_on_crash: false\nexecutors:\n  - name: encoder\n")
    deployment_yml = tmp_path / "deployment.yml"
    deployment_yml.write_text("jtype: Deployment\nwith:\n  name: encoder\n  restart_on_crash: false\n")
    assert Flow().restart_on_crash and Deployment().restart_on_crash  # the default: heal
    assert not Flow.load_config(flow_yml).restart_on_crash
    assert not Deployment.load_config(deployment_yml).restart_on_crash
