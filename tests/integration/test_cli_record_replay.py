"""``devkit serve --record`` in a real process, then ``devkit replay`` against two versions."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from cli_run import devkit, serving
from docarray import BaseDoc, DocList

from devkit.testing.replay import read_recording

EXECUTORS = """
from docarray import BaseDoc, DocList
from devkit import Executor, requests


class Sentence(BaseDoc):
    text: str = ""
    length: float = 0.0


class Measure(Executor):
    @requests
    def measure(self, docs: DocList[Sentence], **kwargs) -> DocList[Sentence]:
        for doc in docs:
            doc.length = float(len(doc.text))
        return docs


class MeasureStripped(Executor):
    @requests
    def measure(self, docs: DocList[Sentence], **kwargs) -> DocList[Sentence]:
        for doc in docs:
            doc.length = float(len(doc.text.strip()))
        return docs
"""


class Sentence(BaseDoc):
    text: str = ""
    length: float = 0.0


def _flow_yaml(executor: str) -> str:
    return textwrap.dedent(
        f"""\
        jtype: Flow
        executors:
          - name: measure
            uses: measurekit.executors.{executor}
        """
    )


@pytest.fixture
def measurekit(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "measurekit").mkdir(parents=True)
    (project / "measurekit" / "__init__.py").write_text("")
    (project / "measurekit" / "executors.py").write_text(EXECUTORS)
    (project / "flow.yml").write_text(_flow_yaml("Measure"))
    (project / "flow_v2.yml").write_text(_flow_yaml("MeasureStripped"))
    return project


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_serve_records_and_replay_reports_the_changed_field(measurekit, free_port):
    with serving(
        "serve",
        "flow.yml",
        "--runtime",
        "thread",
        "--record",
        "rec",
        cwd=measurekit,
        port=free_port,
        stop_timeout=60,
    ) as client:
        client.post("/", DocList[Sentence]([Sentence(text="hi "), Sentence(text="there")]))
        client.post("/", DocList[Sentence]([Sentence(text="same")]))
    recording = read_recording(measurekit / "rec")
    assert [len(e.docs) for e in recording] == [2, 1] and recording.notes == []

    same = devkit("replay", "rec", "--against", "flow.yml", "--protocol", "http", cwd=measurekit, timeout=120)
    assert same.returncode == 0, same.stderr
    assert same.stdout.startswith("replayed 2 request(s) against http://127.0.0.1:")
    assert same.stdout.rstrip().endswith(": all answered as recorded")

    changed = devkit("replay", "rec", "--against", "flow_v2.yml", cwd=measurekit, timeout=120)
    assert changed.returncode == 1, changed.stderr
    lines = changed.stdout.splitlines()
    first = recording.exchanges[0]
    assert lines[0].endswith(": 1 differ")
    assert lines[1] == f"request #0 / (request_id {first.request_id}, 2 docs)"
    assert lines[2] == f"  document 0 (id {first.response_docs[0].id}): field 'length' is 2.0, expected 3.0"
    assert len(lines) == 3

    tolerated = devkit(
        "replay", "rec", "--against", "flow_v2.yml", "--abs-tol", "1", cwd=measurekit, timeout=120
    )
    assert tolerated.returncode == 0, tolerated.stdout + tolerated.stderr


def test_replay_names_a_missing_recording(tmp_path):
    (tmp_path / "flow.yml").write_text("jtype: Flow\nexecutors: []\n")
    result = devkit("replay", "nothing-here", "--against", "flow.yml", cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert "no recording at" in result.stderr and "nothing-here" in result.stderr


def test_record_max_bytes_too_small_is_refused_before_serving(tmp_path):
    (tmp_path / "flow.yml").write_text("jtype: Flow\nexecutors: []\n")
    result = devkit(
        "serve", "flow.yml", "--record", "rec", "--record-max-bytes", "10", cwd=tmp_path, timeout=120
    )
    assert result.returncode == 1
    assert "max_bytes must be at least 4096" in result.stderr
    assert not (tmp_path / "rec").exists()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_deployment_yaml_records_and_replays_over_a_protocol_it_gains(measurekit, free_port):
    (measurekit / "deployment.yml").write_text(
        "jtype: Deployment\nwith:\n  uses: measurekit.executors.Measure\n  record: dep-rec\n"
    )
    with serving(
        "serve", "deployment.yml", "--runtime", "thread", cwd=measurekit, port=free_port, stop_timeout=60
    ) as client:
        client.post("/", DocList[Sentence]([Sentence(text="four")]))
    (exchange,) = read_recording(measurekit / "dep-rec")
    assert [doc.length for doc in exchange.response_docs] == [4.0]

    result = devkit(
        "replay",
        "dep-rec",
        "--against",
        "deployment.yml",
        "--protocol",
        "websocket",
        cwd=measurekit,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("replayed 1 request(s) against ws://127.0.0.1:")
