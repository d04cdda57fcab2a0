"""Record a gateway's traffic, replay it against another Flow, and read what differs (REC-1..6)."""

from __future__ import annotations

import logging
import threading
import uuid
from pathlib import Path

import httpx
import msgpack
import numpy as np
import pytest
from docarray import BaseDoc, DocList
from docarray.typing import NdArray

from devkit import Client, Deployment, Executor, Flow, requests
from devkit.codec import MARKER
from devkit.record import Recording
from devkit.testing.replay import read_recording, replay


class Item(BaseDoc):
    text: str = ""
    score: float = 0.0
    embedding: NdArray | None = None
    trace: str = ""  # a fresh id per answer: volatile


class Scorer(Executor):
    """``offset`` shifts every score; ``shout`` marks that one word: the "new version" knobs."""

    def __init__(self, offset: float = 0.0, shout: str = "", **kwargs):
        super().__init__(**kwargs)
        self.offset = offset
        self.shout = shout

    @requests(on="/score")
    def score(self, docs: DocList[Item], parameters: dict, **kwargs) -> DocList[Item]:
        for doc in docs:
            doc.text = doc.text.upper() + ("!" if doc.text == self.shout else "")
            doc.score = len(doc.text) * float(parameters.get("weight", 1.0)) + self.offset
            doc.embedding = np.arange(3, dtype=np.float32) / 10
        return docs

    @requests(on="/trace")
    def trace(self, docs: DocList[Item], **kwargs) -> DocList[Item]:
        for doc in docs:
            doc.trace = uuid.uuid4().hex
        return docs

    @requests(on="/fail")
    def fail(self, docs: DocList[Item], **kwargs) -> DocList[Item]:
        raise ValueError("refused")


def _items(*texts: str) -> DocList[Item]:
    return DocList[Item]([Item(text=text) for text in texts])


def _record_session(folder: Path, protocol: str = "grpc") -> None:
    """Four requests over ``protocol``: parameters, target_executor, an Executor error."""
    with Flow(protocol=protocol, record=folder, quiet=True).add(uses=Scorer, name="scorer") as flow:
        flow.post("/score", _items("alpha", "beta"), parameters={"weight": 2})
        flow.post("/score", _items("gamma"), target_executor="scorer")
        flow.post("/trace", _items("delta"))
        flow.post("/fail", _items("epsilon"), continue_on_error=True)


@pytest.fixture(scope="module")
def grpc_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recording") / "session"
    _record_session(folder)
    return folder


def test_the_recording_holds_each_request_and_response(grpc_recording):
    recording = read_recording(grpc_recording)
    assert recording.notes == []
    assert [e.endpoint for e in recording] == ["/score", "/score", "/trace", "/fail"]
    first, targeted, _, failed = recording.exchanges
    assert first.parameters == {"weight": 2}
    assert [d.text for d in first.docs] == ["alpha", "beta"]
    assert [d.text for d in first.response_docs] == ["ALPHA", "BETA"]
    assert [d.score for d in first.response_docs] == [10.0, 8.0]
    assert first.response_docs[0].embedding.dtype == np.float32  # exact: the codec keeps dtypes
    assert first.error is None and first.duration >= 0 and [name for name, _ in first.routes] == ["scorer"]
    assert targeted.target_executor == "scorer"
    assert failed.error is not None
    assert (failed.error.name, failed.error.executor) == ("ValueError", "scorer")
    assert "refused" in failed.error.description


def test_documents_are_stored_in_devkits_codec(grpc_recording):
    (file,) = grpc_recording.glob("*.dkrec")
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(file.read_bytes())
    records = list(unpacker)
    assert [r["type"] for r in records] == ["header", "exchange", "exchange", "exchange", "exchange", "end"]
    for exchange in records[1:-1]:
        assert exchange["docs"]["codec"].startswith(MARKER)
        assert exchange["response_docs"]["codec"].startswith(MARKER)


@pytest.mark.parametrize("protocol", ["http", "websocket"])
def test_a_grpc_recording_replays_over_another_protocol_without_difference(grpc_recording, protocol):
    with Flow(protocol=protocol, quiet=True).add(uses=Scorer, name="scorer") as flow:
        report = replay(grpc_recording, flow, volatile=("id", "trace"))
    assert report.ok, report.render()
    assert len(report.requests) == 4
    assert report.render().startswith(
        f"replayed 4 request(s) against {protocol.replace('websocket', 'ws')}://"
    )


def test_a_changed_executor_is_reported_by_request_document_and_field(grpc_recording):
    flow = Flow(protocol="http", quiet=True).add(uses=Scorer, name="scorer", uses_with={"shout": "beta"})
    with flow:
        report = replay(grpc_recording, flow, volatile=("id", "trace"))
    assert not report.ok
    (changed,) = report.differing
    recorded = read_recording(grpc_recording).exchanges[0]
    beta = recorded.response_docs[1].id
    assert (changed.number, changed.endpoint, changed.request_id) == (0, "/score", recorded.request_id)
    assert changed.differences == (
        f"document 1 (id {beta}): field 'score' is 10.0, expected 8.0",
        f"document 1 (id {beta}): field 'text' is 'BETA!', expected 'BETA'",
    )
    with pytest.raises(AssertionError, match=r"request #0 /score .*\n  document 1 .*field 'score'"):
        report.assert_same()


def test_floats_within_the_tolerance_are_equal(grpc_recording):
    with Flow(quiet=True).add(uses=Scorer, name="scorer", uses_with={"offset": 1e-7}) as flow:
        strict = replay(grpc_recording, flow, volatile=("id", "trace"))
        absolute = replay(grpc_recording, flow, volatile=("id", "trace"), abs_tol=1e-6)
        relative = replay(grpc_recording, flow, volatile=("id", "trace"), rel_tol=1e-6)
    assert [r.number for r in strict.differing] == [0, 1]
    assert all("field 'score'" in line for r in strict.differing for line in r.differences)
    assert absolute.ok, absolute.render()
    assert relative.ok, relative.render()


def test_volatile_fields_are_not_compared(grpc_recording):
    with Flow(quiet=True).add(uses=Scorer, name="scorer") as flow:
        everything = replay(grpc_recording, flow)
        without_trace = replay(grpc_recording, flow, volatile=("id", "trace"))
    (traced,) = everything.differing
    assert traced.endpoint == "/trace"
    assert len(traced.differences) == 1 and "field 'trace'" in traced.differences[0]
    assert without_trace.ok, without_trace.render()


def test_a_status_that_changed_is_reported(grpc_recording, tmp_path):
    class Refuses(Executor):
        @requests
        def refuse(self, docs: DocList[Item], **kwargs) -> DocList[Item]:
            raise RuntimeError("down for maintenance")

    with Flow(quiet=True).add(uses=Refuses, name="scorer") as flow:
        report = replay(grpc_recording, flow)
    lines = [line for r in report.differing for line in r.differences]
    assert lines[0].startswith(
        "status: ERROR (RuntimeError from 'scorer': RuntimeError('down for maintenance')"
    )
    assert lines[0].endswith(", recorded SUCCESS")
    assert lines[-1] == "error: RuntimeError from 'scorer', recorded ValueError from 'scorer'"


def test_the_recording_stops_at_max_bytes_and_says_so_once(tmp_path, caplog):
    folder = tmp_path / "small"
    caplog.set_level(logging.WARNING, logger="devkit.record")
    flow = Flow(record=Recording(dir=str(folder), max_bytes=8192), quiet=True).add(uses=Scorer)
    with flow:
        for index in range(20):
            flow.post("/score", _items("x" * 500 + str(index)))
    (file,) = folder.glob("*.dkrec")
    assert file.stat().st_size <= 8192
    recording = read_recording(folder)
    kept = len(recording)
    assert 0 < kept < 20
    assert [e.docs[0].text[-1] for e in recording] == [str(i)[-1] for i in range(kept)]
    assert recording.notes == [
        f"{file.name}: {20 - kept} request(s) were not recorded: the file is full (max_bytes=8192); "
        "later requests are not recorded"
    ]
    warnings = [r.getMessage() for r in caplog.records if r.name == "devkit.record"]
    assert len(warnings) == 1 and "max_bytes=8192" in warnings[0]


def test_recording_is_off_by_default_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flow = Flow(quiet=True).add(uses=Scorer)
    assert flow.spec.gateway.record is None
    with flow:
        flow.post("/score", _items("a"))
        assert not [t for t in threading.enumerate() if t.name.startswith("devkit-recorder")]
    assert list(tmp_path.rglob("*")) == []


def test_a_deployment_records_through_a_gateway_in_front(tmp_path):
    with Deployment(uses=Scorer, record=tmp_path / "dep", quiet=True) as dep:
        assert dep.entry_name == "gateway"
        dep.post("/score", _items("solo"))
    (exchange,) = read_recording(tmp_path / "dep")
    assert [d.text for d in exchange.response_docs] == ["SOLO"]


def test_a_recording_replays_against_an_address(grpc_recording):
    with Flow(protocol="http", quiet=True).add(uses=Scorer, name="scorer") as flow:
        address = f"http://127.0.0.1:{flow.port}"
        report = replay(grpc_recording, address, volatile=("id", "trace"))
        with Client(host=address) as client:  # the Flow still serves after the replay
            assert client.post("/score", _items("z"), return_type=DocList[Item]).text == ["Z"]
    assert report.ok and report.target == address


def test_flow_yaml_takes_record_in_gateway_and_with(tmp_path):
    (tmp_path / "gateway.yml").write_text(
        f"jtype: Flow\ngateway:\n  record:\n    dir: {tmp_path / 'g'}\n    max_bytes: 100000\n"
        "executors:\n  - name: scorer\n"
    )
    (tmp_path / "with.yml").write_text(f"jtype: Flow\nwith:\n  record: {tmp_path / 'w'}\nexecutors: []\n")
    from_gateway = Flow.load_config(tmp_path / "gateway.yml")
    assert from_gateway.spec.gateway.record == Recording(dir=str(tmp_path / "g"), max_bytes=100000)
    assert Flow.load_config(tmp_path / "with.yml").spec.gateway.record == Recording(dir=str(tmp_path / "w"))
    from_gateway.save_config(tmp_path / "saved.yml")
    assert Flow.load_config(tmp_path / "saved.yml").spec.gateway.record == from_gateway.spec.gateway.record


def test_deployment_yaml_keeps_record(tmp_path):
    deployment = Deployment(uses=Scorer, record=Recording(dir=str(tmp_path / "d"), max_bytes=50_000))
    deployment.save_config(tmp_path / "dep.yml")
    assert Deployment.load_config(tmp_path / "dep.yml").spec.record == deployment.spec.record


def test_an_empty_recording_says_nothing_was_compared(tmp_path):
    with Flow(record=tmp_path / "idle", quiet=True).add(uses=Scorer):
        pass
    with Flow(quiet=True).add(uses=Scorer) as flow:
        report = replay(tmp_path / "idle", flow)
    assert report.ok and report.requests == []
    assert report.render().endswith("note: the recording holds no requests: nothing was compared")


def test_every_front_end_is_recorded_by_the_core(tmp_path):
    flow = Flow(protocol=["grpc", "http", "websocket"], record=tmp_path / "all", quiet=True).add(uses=Scorer)
    with flow:
        ports = flow.ports_by_protocol
        with Client(host=f"grpc://127.0.0.1:{ports['grpc']}") as client:
            client.post("/score", _items("over grpc"))
        answer = httpx.post(
            f"http://127.0.0.1:{ports['http']}/post",
            json={"execEndpoint": "/score", "data": [{"text": "over http"}], "parameters": {"weight": 3}},
            timeout=30,
        )
        assert answer.status_code == 200
        with Client(host=f"ws://127.0.0.1:{ports['websocket']}") as client:
            client.post("/score", _items("over websocket"))
    recording = read_recording(tmp_path / "all")
    assert [[d.text for d in e.docs] for e in recording] == [["over grpc"], ["over http"], ["over websocket"]]
    assert recording.exchanges[1].parameters == {"weight": 3}
    assert [d.score for d in recording.exchanges[1].response_docs] == [27.0]


@pytest.mark.process
@pytest.mark.timeout(120)
def test_a_recording_replays_against_the_process_runtime(grpc_recording):
    with Flow(protocol="http", runtime="process", quiet=True).add(uses=Scorer, name="scorer") as flow:
        report = replay(grpc_recording, flow, volatile=("id", "trace"))
    assert report.ok, report.render()
