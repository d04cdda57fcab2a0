"""``reload=True`` on a Flow or Deployment loaded from YAML: editing the YAML while it is
``block()``-ed restarts it from the new file on the same port (jina's hot-reload page)."""

import logging
import textwrap
import threading

import pytest
from docarray import DocList
from docarray.documents import TextDoc

from devkit import Client, Deployment, Executor, Flow, requests
from devkit.testing.leaks import leaked_since, snapshot


class ConcatenateTextExecutor(Executor):
    def __init__(self, text_to_concat: str = "add text", **kwargs):
        super().__init__(**kwargs)
        self.text_to_concat = text_to_concat

    @requests
    def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += self.text_to_concat


class LogWaiter(logging.Handler):
    """Counts records containing each awaited text; ``wait(text, n)`` blocks until n arrived."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._changed:
            self.messages.append(record.getMessage())
            self._changed.notify_all()

    def wait(self, text: str, count: int = 1) -> None:
        with self._changed:
            arrived = self._changed.wait_for(
                lambda: sum(text in m for m in self.messages) >= count, timeout=30
            )
        assert arrived, self.messages


@pytest.fixture
def waiter():
    logger = logging.getLogger("devkit.orchestrate")
    handler = LogWaiter()
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


FLOW_ONE = """\
jtype: Flow
with:
  reload: true
executors:
  - name: exec1
    uses: ConcatenateTextExecutor
"""

FLOW_TWO = (
    FLOW_ONE
    + """\
  - name: exec2
    uses: ConcatenateTextExecutor
"""
)


def text_of(port: int) -> str:
    with Client(port=port) as client:
        return client.post("/", DocList[TextDoc]([TextDoc(text="")]), return_type=DocList[TextDoc])[0].text


@pytest.fixture
def blocked():
    """Runs ``orchestrator.block(stop)`` in a thread until the test ends."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def run(orchestrator) -> None:
        thread = threading.Thread(target=orchestrator.block, args=(stop,), name="test-block")
        thread.start()
        threads.append(thread)

    yield run
    stop.set()
    for thread in threads:
        thread.join(30)


def test_a_flow_yaml_change_applies_the_new_topology_on_the_same_port(tmp_path, waiter, blocked):
    path = tmp_path / "flow.yml"
    path.write_text(FLOW_ONE)
    before = snapshot()
    with Flow.load_config(path, runtime="thread", quiet=True) as flow:
        port = flow.port
        assert text_of(port) == "add text"
        blocked(flow)
        waiter.wait("watching")
        path.write_text(FLOW_TWO)
        waiter.wait("Flow restarted from flow.yml")
        assert flow.port == port
        assert text_of(port) == "add textadd text"
    assert "change in Flow YAML flow.yml observed, restarting Flow" in waiter.messages
    assert leaked_since(before) == []


def test_a_deployment_yaml_change_of_uses_with_changes_the_output(tmp_path, waiter, blocked):
    path = tmp_path / "deployment.yml"
    template = textwrap.dedent(
        """\
        jtype: Deployment
        with:
          uses: ConcatenateTextExecutor
          uses_with:
            text_to_concat: {text}
          reload: true
        """
    )
    path.write_text(template.format(text="foo"))
    with Deployment.load_config(path, runtime="thread", quiet=True) as dep:
        assert text_of(dep.port) == "foo"
        blocked(dep)
        waiter.wait("watching")
        path.write_text(template.format(text="bar"))
        waiter.wait("Deployment restarted from deployment.yml")
        assert text_of(dep.port) == "bar"


def test_a_yaml_that_no_longer_loads_keeps_the_running_flow(tmp_path, waiter, blocked):
    path = tmp_path / "flow.yml"
    path.write_text(FLOW_ONE)
    with Flow.load_config(path, runtime="thread", quiet=True) as flow:
        blocked(flow)
        waiter.wait("watching")
        path.write_text("jtype: Flw\n")
        waiter.wait("does not load")
        assert text_of(flow.port) == "add text"


def test_without_reload_the_yaml_is_not_watched(tmp_path, waiter):
    path = tmp_path / "flow.yml"
    path.write_text(FLOW_ONE.replace("reload: true", "reload: false"))
    with Flow.load_config(path, runtime="thread", quiet=True) as flow:
        flow.block(_set_event())  # returns at once: the stop is already set
    assert not any("watching" in m for m in waiter.messages)


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event
