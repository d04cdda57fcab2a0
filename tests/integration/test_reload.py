"""Hot reload (``reload=True``): editing an Executor's .py or YAML file while it serves
changes what it answers, on the same port; requests already running finish on the old code."""

import importlib
import logging
import sys
import textwrap
import threading

import pytest
from docarray import DocList
from docarray.documents import TextDoc

from devkit import Client, Deployment, Flow
from devkit.testing.leaks import leaked_since, snapshot

EXECUTOR_SOURCE = textwrap.dedent(
    """\
    import threading

    from docarray import DocList
    from docarray.documents import TextDoc

    from devkit import Executor, requests

    #: set by a test to hold a request inside the Executor
    gate = threading.Event()
    gate.set()
    entered = threading.Event()


    class HotReloadedExecutor(Executor):
        @requests
        def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
            entered.set()
            gate.wait(30)
            for doc in docs:
                doc.text = {text!r}


    class HotReloadedAfterEdit(Executor):
        @requests
        def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
            for doc in docs:
                doc.text = 'HotReloadedAfterEdit'
    """
)


class LogWaiter(logging.Handler):
    """Sets an event when a record containing ``text`` is logged (no sleeping in tests)."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.event = threading.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.messages.append(message)
        if self.text in message:
            self.event.set()


@pytest.fixture
def waiter():
    """Records ``devkit.executor.*`` logs; ``waiter.event`` is set when an Executor has reloaded."""
    logger = logging.getLogger("devkit.executor")
    handler = LogWaiter("reloaded")
    previous = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    """A folder with ``my_executor.py`` on sys.path, forgotten again after the test."""
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "my_executor.py").write_text(EXECUTOR_SOURCE.format(text="I am coming from the first version"))
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop("my_executor", None)


def text_of(client: Client) -> str:
    return client.post("/", inputs=DocList[TextDoc]([TextDoc()]), return_type=DocList[TextDoc])[0].text


def edit(path, text: str) -> None:
    path.write_text(EXECUTOR_SOURCE.format(text=text))


def test_editing_the_executor_source_serves_the_new_version(module_dir, waiter):
    my_executor = importlib.import_module("my_executor")
    with Deployment(uses=my_executor.HotReloadedExecutor, reload=True, runtime="thread", quiet=True) as dep:
        client = Client(port=dep.port)
        assert text_of(client) == "I am coming from the first version"
        edit(module_dir / "my_executor.py", "I am coming from a new version of HotReloadedExecutor")
        assert waiter.event.wait(30), waiter.messages
        assert text_of(client) == "I am coming from a new version of HotReloadedExecutor"
    changed = [m for m in waiter.messages if "detected changes in" in m]
    assert changed and "my_executor.py" in changed[0] and "Refreshing the Executor" in changed[0]


def test_a_request_running_during_the_reload_finishes_on_the_old_instance(module_dir, waiter):
    my_executor = importlib.import_module("my_executor")
    gate, entered = my_executor.gate, my_executor.entered  # reloading rebinds the module's globals
    gate.clear()
    with Deployment(uses="my_executor.HotReloadedExecutor", reload=True, runtime="thread", quiet=True) as dep:
        client = Client(port=dep.port)
        answers: list[str] = []
        in_flight = threading.Thread(target=lambda: answers.append(text_of(client)))
        in_flight.start()
        assert entered.wait(30)  # the request is inside the old instance
        edit(module_dir / "my_executor.py", "new")
        assert waiter.event.wait(30), waiter.messages
        assert text_of(client) == "new"  # new requests go to the new instance at once
        gate.set()
        in_flight.join(30)
        assert answers == ["I am coming from the first version"]


def test_a_broken_edit_keeps_the_old_version_serving(module_dir, caplog):
    my_executor = importlib.import_module("my_executor")
    errors = LogWaiter("reloading failed")
    logger = logging.getLogger("devkit.executor")
    logger.addHandler(errors)
    try:
        with Deployment(
            uses=my_executor.HotReloadedExecutor, reload=True, runtime="thread", quiet=True
        ) as dep:
            (module_dir / "my_executor.py").write_text("this is not python(\n")
            assert errors.event.wait(30), errors.messages
            assert text_of(Client(port=dep.port)) == "I am coming from the first version"
    finally:
        logger.removeHandler(errors)
    assert "SyntaxError" in next(m for m in errors.messages if "reloading failed" in m)


def test_changing_the_executor_yaml_restarts_it_with_the_new_class(module_dir, waiter):
    importlib.import_module("my_executor")
    config = module_dir / "executor.yml"
    config.write_text("jtype: HotReloadedExecutor\n")
    with Deployment(uses=str(config), reload=True, runtime="thread", quiet=True) as dep:
        client = Client(port=dep.port)
        assert text_of(client) == "I am coming from the first version"
        config.write_text("jtype: HotReloadedAfterEdit\n")
        assert waiter.event.wait(30), waiter.messages
        assert text_of(client) == "HotReloadedAfterEdit"
    assert any(f"change in Executor configuration YAML {config}" in m for m in waiter.messages)


def test_a_flow_with_reload_refreshes_its_executor_and_stops_its_watcher(module_dir, waiter):
    my_executor = importlib.import_module("my_executor")
    before = snapshot()
    with Flow(reload=True, runtime="thread", quiet=True).add(uses=my_executor.HotReloadedExecutor) as flow:
        assert any(t.name.startswith("devkit-reload-") for t in threading.enumerate())
        edit(module_dir / "my_executor.py", "from the Flow")
        assert waiter.event.wait(30), waiter.messages
        assert text_of(flow.client) == "from the Flow"
    assert not [t for t in threading.enumerate() if t.name.startswith("devkit-reload-")]
    assert leaked_since(before) == []


STREAMER_SOURCE = textwrap.dedent(
    """\
    import threading

    from docarray import DocList
    from docarray.documents import TextDoc

    from devkit import Executor, requests

    VERSION = {version!r}
    #: the test releases ``gate`` to let the stream go on; ``closed`` is set by close()
    gate = threading.Event()
    started = threading.Event()
    closed = threading.Event()


    class SlowStreamer(Executor):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # bound now: a reload re-runs this module and rebinds its globals
            self.version, self.gate, self.started, self.closed = VERSION, gate, started, closed

        @requests(on="/stream")
        def stream(self, doc: TextDoc, **kwargs) -> TextDoc:
            self.started.set()
            for i in range(3):
                if i:
                    self.gate.wait(30)
                yield TextDoc(text=f"{{self.version}} {{i}} closed={{self.closed.is_set()}}")

        @requests(on="/version")
        def which(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
            for doc in docs:
                doc.text = self.version

        def close(self):
            self.closed.set()
    """
)


@pytest.mark.timeout(120)
def test_a_stream_running_during_the_reload_keeps_the_old_instance_open(module_dir, waiter):
    source = module_dir / "my_streamer.py"
    source.write_text(STREAMER_SOURCE.format(version="old"))
    try:
        my_streamer = importlib.import_module("my_streamer")
        gate, started, closed = my_streamer.gate, my_streamer.started, my_streamer.closed
        with Deployment(uses="my_streamer.SlowStreamer", reload=True, runtime="thread", quiet=True) as dep:
            streamed: list[str] = []
            failed: list[BaseException] = []

            def consume() -> None:
                try:
                    docs = Client(port=dep.port).stream_doc("/stream", TextDoc(), return_type=TextDoc)
                    streamed.extend(doc.text for doc in docs)
                except BaseException as exc:
                    failed.append(exc)

            in_flight = threading.Thread(target=consume)
            in_flight.start()
            assert started.wait(30)  # the stream is inside the old instance, waiting between items
            source.write_text(STREAMER_SOURCE.format(version="new"))
            assert waiter.event.wait(30), waiter.messages
            unary = Client(port=dep.port).post(
                "/version", DocList[TextDoc]([TextDoc()]), return_type=DocList[TextDoc]
            )
            assert unary[0].text == "new"  # new requests reach the new instance meanwhile
            gate.set()
            in_flight.join(30)
            assert failed == []
            assert streamed == ["old 0 closed=False", "old 1 closed=False", "old 2 closed=False"]
            assert closed.wait(30)  # and once the stream is over, the old instance is closed
    finally:
        sys.modules.pop("my_streamer", None)
