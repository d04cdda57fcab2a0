"""Logging: standard ``logging`` loggers per component, the level from DEVKIT_LOG_LEVEL or
JINA_LOG_LEVEL read when serving starts, ``log_config``, and no log line per request."""

import logging
import os
import queue
import signal
import subprocess
import textwrap
import threading
from pathlib import Path

import pytest
from cli_run import DEVKIT
from docarray import DocList
from docarray.documents import TextDoc

from devkit import Client, Deployment, Executor, requests
from devkit.logs import log_level_from_env, setup_logging


class LoggingGreeter(Executor):
    @requests
    def greet(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        self.logger.info("greeting %d documents", len(docs))
        for doc in docs:
            doc.text = "hello"


@pytest.fixture
def devkit_logger():
    """The ``devkit`` logger as a fresh process has it, restored after the test."""
    logger = logging.getLogger("devkit")
    level, handlers = logger.level, list(logger.handlers)
    logger.setLevel(logging.NOTSET)
    yield logger
    logger.setLevel(level)
    logger.handlers[:] = handlers


def test_an_executor_logs_through_devkit_executor_its_name(caplog):
    caplog.set_level(logging.INFO, logger="devkit.executor")
    with Deployment(uses=LoggingGreeter, name="greeter", quiet=True) as dep:
        dep.post("/", DocList[TextDoc]([TextDoc(), TextDoc()]))
    records = [r for r in caplog.records if r.getMessage() == "greeting 2 documents"]
    assert [r.name for r in records] == ["devkit.executor.greeter"]


def test_serving_requests_logs_nothing_per_request_at_info(caplog):
    with Deployment(uses=Executor, replicas=2, quiet=True) as dep:
        caplog.set_level(logging.INFO, logger="devkit")
        caplog.clear()
        for _ in range(5):
            dep.post("/", DocList[TextDoc]([TextDoc()]))
    assert [r.getMessage() for r in caplog.records if r.name.startswith("devkit")] == []


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"DEVKIT_LOG_LEVEL": "DEBUG"}, logging.DEBUG),
        ({"JINA_LOG_LEVEL": "warning"}, logging.WARNING),
        ({"DEVKIT_LOG_LEVEL": "ERROR", "JINA_LOG_LEVEL": "DEBUG"}, logging.ERROR),
        ({}, None),
    ],
)
def test_the_level_comes_from_devkit_log_level_or_jinas(monkeypatch, env, expected):
    for name in ("DEVKIT_LOG_LEVEL", "JINA_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert log_level_from_env() == expected


def test_a_bad_level_names_the_variable_and_the_levels(monkeypatch):
    monkeypatch.delenv("DEVKIT_LOG_LEVEL", raising=False)
    monkeypatch.setenv("JINA_LOG_LEVEL", "LOUD")
    with pytest.raises(ValueError, match="JINA_LOG_LEVEL='LOUD' is not a log level; use DEBUG, INFO"):
        log_level_from_env()


def test_the_environment_is_read_when_a_deployment_starts_not_at_import(monkeypatch, devkit_logger):
    monkeypatch.setenv("JINA_LOG_LEVEL", "DEBUG")  # as jina's hot-reload docs set it, after import
    with Deployment(uses=Executor, quiet=True):
        assert devkit_logger.level == logging.DEBUG


@pytest.fixture
def log_config(tmp_path):
    """``log_config(format)`` -> (a dictConfig YAML sending ``devkit.executor`` INFO records to a
    file in that format, the file); the handlers it installs are removed after the test."""

    def write(record_format: str) -> tuple[Path, Path]:
        log_file = tmp_path / "devkit.log"
        config = tmp_path / "logging.yml"
        config.write_text(
            textwrap.dedent(
                f"""\
                version: 1
                formatters:
                  short: {{format: "{record_format}"}}
                handlers:
                  file: {{class: logging.FileHandler, filename: "{log_file}", formatter: short}}
                loggers:
                  devkit.executor: {{level: INFO, handlers: [file]}}
                """
            )
        )
        return config, log_file

    yield write
    logger = logging.getLogger("devkit.executor")
    for handler in list(logger.handlers):
        handler.close()
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    setup_logging()  # later process children start with devkit's own setup again


def test_log_config_applies_a_dict_config_file(log_config, devkit_logger):
    config, log_file = log_config("%(name)s | %(message)s")
    with Deployment(uses=LoggingGreeter, name="greeter", log_config=str(config), quiet=True) as dep:
        dep.post("/", DocList[TextDoc]([TextDoc()]))
    assert "devkit.executor.greeter | greeting 1 documents" in log_file.read_text()


@pytest.mark.process
def test_log_config_reaches_the_executors_of_process_runtime_children(log_config, devkit_logger):
    config, log_file = log_config("%(process)d %(name)s | %(message)s")
    with Deployment(
        uses=LoggingGreeter, name="greeter", runtime="process", log_config=str(config), quiet=True
    ) as dep:
        dep.post("/", DocList[TextDoc]([TextDoc()]))
        (child,) = dep.pids.values()
    assert child != os.getpid()
    assert f"{child} devkit.executor.greeter | greeting 1 documents" in log_file.read_text().splitlines()


def test_without_a_terminal_the_handler_writes_plain_lines(devkit_logger, monkeypatch):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # a program that configured no logging
    setup_logging()
    (handler,) = devkit_logger.handlers
    assert type(handler) is logging.StreamHandler
    assert devkit_logger.level == logging.INFO


GREETER_MODULE = """
from docarray import DocList
from docarray.documents import TextDoc
from devkit import Executor, requests


class Greeter(Executor):
    @requests
    def greet(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        self.logger.debug("about to greet")
        for doc in docs:
            doc.text = {text!r}
"""


def lines_of(stream) -> "queue.Queue[str]":
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def wait_for_line(lines: "queue.Queue[str]", text: str, seen: list[str]) -> str:
    """The next line containing ``text``; on a 30 s silence, fail showing every line seen."""
    while True:
        try:
            line = lines.get(timeout=30)
        except queue.Empty:
            pytest.fail(f"no line with {text!r} within 30 s; the child wrote:\n{''.join(seen)}")
        seen.append(line)
        if text in line:
            return line


@pytest.mark.process
def test_cli_reload_and_jina_log_level_in_a_real_child_process(tmp_path: Path, free_port):
    (tmp_path / "greeter.py").write_text(GREETER_MODULE.format(text="hello"))
    command = [
        *DEVKIT,
        "executor",
        "--uses",
        "Greeter",
        "--py-modules",
        "greeter.py",
        "--reload",
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port),
    ]
    env = {**os.environ, "JINA_LOG_LEVEL": "DEBUG"}
    process = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True, env=env)
    seen: list[str] = []
    try:
        lines = lines_of(process.stderr)
        client = Client(host="127.0.0.1", port=free_port)
        wait_for_line(lines, "watching", seen)  # the watcher is on before the server is ready
        while not client.is_flow_ready(timeout=0.5):
            assert process.poll() is None, seen
        post = lambda: client.post("/", DocList[TextDoc]([TextDoc()]), return_type=DocList[TextDoc])[0].text  # noqa: E731
        assert post() == "hello"
        assert "DEBUG devkit.executor.executor: about to greet" in wait_for_line(
            lines, "about to greet", seen
        )
        (tmp_path / "greeter.py").write_text(GREETER_MODULE.format(text="hello again"))
        changed = wait_for_line(lines, "Refreshing the Executor", seen)
        assert "greeter.py" in changed and changed.startswith(
            "INFO devkit.executor.executor: executor/rep-0 detected changes in: ["
        )
        wait_for_line(lines, "reloaded", seen)
        assert post() == "hello again"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        process.stderr.close()
