"""The recording file and the recorder without a gateway; the tolerant document diff (REC-1, REC-3)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest
from docarray import BaseDoc, DocList
from docarray.documents import TextDoc
from docarray.typing import NdArray
from pydantic import ValidationError

from devkit.proto import jina_pb2
from devkit.record import Recording, read_recording
from devkit.record.recorder import Recorder
from devkit.testing.assertions import describe_differences
from devkit.wire import error_status, new_request


def _exchange(texts: list[str], *, devkit_peer: bool) -> tuple[bytes, bytes]:
    request = new_request(
        "/echo", DocList[TextDoc]([TextDoc(text=t) for t in texts]), {"k": "v"}, devkit_peer=devkit_peer
    )
    response = jina_pb2.DataRequestProto()
    response.CopyFrom(request)
    response.routes.add(executor="gateway")
    response.routes.add(executor="echo")
    return request.SerializeToString(), response.SerializeToString()


def test_recording_takes_a_folder_and_makes_it_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Recording.model_validate("rec") == Recording(dir=str(tmp_path / "rec"))
    assert Recording.model_validate(Path("rec")).max_bytes == 64 * 1024 * 1024
    with pytest.raises(ValidationError, match="at least 4096"):
        Recording(dir="rec", max_bytes=100)


@pytest.mark.parametrize("devkit_peer", [True, False], ids=["codec", "DocListProto"])
def test_the_recorder_writes_what_the_reader_reads(tmp_path, devkit_peer):
    recorder = Recorder(Recording(dir=str(tmp_path)), "my flow/gateway")
    recorder.record(*_exchange(["a", "b"], devkit_peer=devkit_peer), 1000.0, 0.25)
    recorder.close()
    assert recorder.path.name.startswith("my_flow_gateway-")
    (exchange,) = read_recording(tmp_path)
    assert (exchange.endpoint, exchange.parameters, exchange.started, exchange.duration) == (
        "/echo",
        {"k": "v"},
        1000.0,
        0.25,
    )
    assert [doc.text for doc in exchange.response_docs] == ["a", "b"]
    assert exchange.ok and [name for name, _ in exchange.routes] == ["echo"]


def test_a_failed_response_keeps_its_error(tmp_path):
    request, _ = _exchange(["a"], devkit_peer=True)
    response = jina_pb2.DataRequestProto.FromString(request)
    error_status(KeyError("missing"), "lookup", response.header.status)
    recorder = Recorder(Recording(dir=str(tmp_path)), "g")
    recorder.record(request, response.SerializeToString(), 0.0, 0.0)
    recorder.close()
    (exchange,) = read_recording(tmp_path)
    assert exchange.error is not None
    assert (exchange.error.name, exchange.error.executor) == ("KeyError", "lookup")


def test_a_file_without_its_end_is_read_with_a_note(tmp_path):
    recorder = Recorder(Recording(dir=str(tmp_path)), "g")
    recorder.record(*_exchange(["a"], devkit_peer=True), 0.0, 0.0)
    recorder.close()
    data = recorder.path.read_bytes()
    recorder.path.write_bytes(data[: data.rindex(b"\x84\xa4type\xa3end")])  # the end record's first bytes
    recording = read_recording(recorder.path)
    assert len(recording) == 1
    assert recording.notes == [
        f"{recorder.path.name}: no end record (the gateway did not close cleanly); read what was written"
    ]


def test_the_reader_names_what_is_not_a_recording(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"holds no \.dkrec recording files; record with record="):
        read_recording(tmp_path)
    (tmp_path / "x.dkrec").write_bytes(b"\x93\x01\x02\x03")
    with pytest.raises(ValueError, match=r"x\.dkrec is not a devkit recording"):
        read_recording(tmp_path)


def test_a_writer_that_falls_behind_drops_requests_and_logs_once(tmp_path, caplog, monkeypatch):
    from devkit.record import recorder as recorder_module

    taken, release = threading.Event(), threading.Event()
    encode = recorder_module.exchange_record

    def slow_encode(*args):
        taken.set()
        assert release.wait(30)
        return encode(*args)

    monkeypatch.setattr(recorder_module, "QUEUE_LIMIT", 2)
    monkeypatch.setattr(recorder_module, "exchange_record", slow_encode)
    caplog.set_level(logging.WARNING, logger="devkit.record")
    recorder = Recorder(Recording(dir=str(tmp_path)), "g")
    exchange = _exchange(["a"], devkit_peer=True)
    recorder.record(*exchange, 0.0, 0.0)
    assert taken.wait(30)  # the writer holds the first; two more fill the queue, three are dropped
    for _ in range(5):
        recorder.record(*exchange, 0.0, 0.0)
    release.set()
    recorder.close()
    recording = read_recording(tmp_path)
    assert len(recording) == 3
    assert recording.notes == [
        f"{recorder.path.name}: 3 request(s) were not recorded: the writer fell behind "
        "(more than 2 requests waiting); requests are not recorded until it catches up"
    ]
    assert len([r for r in caplog.records if r.name == "devkit.record"]) == 1


class Measured(BaseDoc):
    value: float = 0.0
    vector: NdArray | None = None
    tags: dict = {}
    inner: TextDoc | None = None


def test_the_diff_compares_nested_fields_with_tolerances():
    got = [
        Measured(
            value=1.0,
            vector=np.array([0.1, 0.2], dtype=np.float32),
            tags={"t": 1, "k": "a"},
            inner=TextDoc(text="x"),
        )
    ]
    wanted = [
        Measured(
            value=1.0 + 1e-9,
            vector=np.array([0.1, 0.25], dtype=np.float32),
            tags={"t": 2, "k": "a"},
            inner=TextDoc(text="y"),
        )
    ]
    index = f"document 0 (id {got[0].id})"
    assert describe_differences(got, wanted) == [
        f"{index}: field 'inner.text' is 'x', expected 'y'",
        f"{index}: field 'tags.t' is 1, expected 2",
        f"{index}: field 'value' is 1.0, expected 1.000000001",
        f"{index}: field 'vector' is {[np.float32(0.1).item(), np.float32(0.2).item()]!r}, expected {[np.float32(0.1).item(), np.float32(0.25).item()]!r}",
    ]
    assert describe_differences(got, wanted, abs_tol=0.06, ignore=("id", "tags.t", "text")) == []


def test_a_list_compares_with_an_array_in_the_arrays_dtype():
    recorded = [Measured(vector=np.array([0.1, 0.2], dtype=np.float32), value=float("nan"))]
    as_json = [Measured(id=recorded[0].id, vector=[0.1, 0.2], value=float("nan"))]  # what HTTP brings back
    assert describe_differences(as_json, recorded) == []
    shorter = [Measured(id=recorded[0].id, vector=[0.1], value=float("nan"))]
    expected = [np.float32(0.1).item(), np.float32(0.2).item()]
    assert describe_differences(shorter, recorded) == [
        f"document 0 (id {recorded[0].id}): field 'vector' is [0.1], expected {expected!r}"
    ]
