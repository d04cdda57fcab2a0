"""The recording file: a stream of msgpack maps, documents in devkit's binary codec.

One file per gateway run (``<gateway>-<time>-<pid>.dkrec`` in the recording folder)::

    {"type": "header", "format": "devkit-recording", "version": 1, "gateway": ..., ...}
    {"type": "exchange", "seq": 0, "endpoint": ..., "docs": {"codec": b"..."}, ...}   # one per request
    {"type": "end", "recorded": N, "not_recorded": M, "reason": ...}                  # on a clean close

Documents are stored as devkit's codec (exact for every docarray type); a request holding a
value the codec cannot carry keeps docarray's ``DocListProto`` bytes instead (``{"proto": ...}``).
Reading needs no schema: documents come back as ``DocList[AnyDoc]``.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgpack
from docarray import DocList
from docarray.base_doc import AnyDoc
from docarray.proto import DocListProto

from devkit import codec
from devkit.proto import jina_pb2
from devkit.wire import parameters_of, read_docs

__all__ = [
    "FORMAT",
    "SUFFIX",
    "VERSION",
    "RecordedError",
    "RecordedExchange",
    "RecordingFile",
    "docs_blob",
    "exchange_record",
    "read_recording",
]

FORMAT = "devkit-recording"
VERSION = 1
SUFFIX = ".dkrec"

AnyDocs = DocList[AnyDoc]


@dataclass(frozen=True)
class RecordedError:
    """What a failed response's status said: exception class, message, and who raised it."""

    name: str
    description: str
    executor: str


@dataclass(frozen=True)
class RecordedExchange:
    """One request the gateway answered, and the answer, as read back from a recording."""

    seq: int
    request_id: str
    endpoint: str
    target_executor: str
    parameters: dict[str, Any]
    docs: DocList[AnyDoc]
    started: float  # seconds since the epoch, when the gateway received the request
    duration: float  # seconds the gateway took to answer
    error: RecordedError | None  # None: the response succeeded
    response_parameters: dict[str, Any]
    response_docs: DocList[AnyDoc]
    routes: tuple[tuple[str, float], ...] = ()  # (Executor, seconds) in the order they answered
    source: str = ""  # the file it was read from

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class RecordingFile:
    """Every exchange of a recording (a file, or all files of a folder in time order)."""

    exchanges: list[RecordedExchange] = field(default_factory=list)
    #: lines saying what is missing: a file cut short, requests not recorded because it was full
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[RecordedExchange]:
        return iter(self.exchanges)

    def __len__(self) -> int:
        return len(self.exchanges)


# -- writing (the recorder's thread calls these) ---------------------------------------------
def docs_blob(request: jina_pb2.DataRequestProto) -> dict[str, bytes]:
    """``request``'s documents in devkit's codec; ``DocListProto`` bytes only when the codec
    cannot carry a value. Documents already in the codec are kept byte for byte."""
    data = request.data
    if data.WhichOneof("documents") == "docs_bytes" and data.docs_bytes.startswith(codec.MARKER):
        return {"codec": data.docs_bytes}
    docs = read_docs(request, AnyDocs)
    try:
        return {"codec": codec.encode_docs(docs)}
    except codec.Unrepresentable:
        return {"proto": docs.to_protobuf().SerializeToString()}


def _error(status: jina_pb2.StatusProto) -> dict[str, str] | None:
    if status.code != jina_pb2.StatusProto.ERROR:
        return None
    return {
        "name": status.exception.name or "Error",
        "description": status.description,
        "executor": status.exception.executor,
    }


def _seconds(route: jina_pb2.RouteProto) -> float:
    start, end = route.start_time, route.end_time
    return max(0.0, (end.seconds - start.seconds) + (end.nanos - start.nanos) / 1e9)


def exchange_record(
    seq: int, request_bytes: bytes, response_bytes: bytes, started: float, duration: float
) -> bytes:
    """One exchange, packed: the serialised request and response protobufs made readable."""
    request = jina_pb2.DataRequestProto.FromString(request_bytes)
    response = jina_pb2.DataRequestProto.FromString(response_bytes)
    return pack(
        {
            "type": "exchange",
            "seq": seq,
            "request_id": request.header.request_id,
            "endpoint": request.header.exec_endpoint or "/",
            "target_executor": request.header.target_executor,
            "parameters": parameters_of(request),
            "docs": docs_blob(request),
            "started": started,
            "duration": duration,
            "error": _error(response.header.status),
            "response_parameters": parameters_of(response),
            "response_docs": docs_blob(response),
            "routes": [[route.executor, _seconds(route)] for route in response.routes[1:]],
        }
    )


def pack(record: dict[str, Any]) -> bytes:
    return msgpack.packb(record, use_bin_type=True)


# -- reading ---------------------------------------------------------------------------------
def _docs(blob: dict[str, bytes]) -> DocList[AnyDoc]:
    if "codec" in blob:
        return codec.decode_docs(blob["codec"], AnyDocs)
    return codec.read_doclist_proto(DocListProto.FromString(blob["proto"]), AnyDocs)


def _exchange(record: dict[str, Any], source: str) -> RecordedExchange:
    error = record.get("error")
    return RecordedExchange(
        seq=record["seq"],
        request_id=record["request_id"],
        endpoint=record["endpoint"],
        target_executor=record.get("target_executor") or "",
        parameters=record.get("parameters") or {},
        docs=_docs(record["docs"]),
        started=record["started"],
        duration=record["duration"],
        error=RecordedError(**error) if error else None,
        response_parameters=record.get("response_parameters") or {},
        response_docs=_docs(record["response_docs"]),
        routes=tuple((name, seconds) for name, seconds in record.get("routes") or ()),
        source=source,
    )


def recording_files(path: str | os.PathLike[str]) -> list[pathlib.Path]:
    """``path`` itself, or the recording files in folder ``path`` oldest first."""
    where = pathlib.Path(path)
    if where.is_file():
        return [where]
    if not where.is_dir():
        raise FileNotFoundError(
            f"no recording at {str(where)!r}: expected a {SUFFIX} file or a folder of them"
        )
    files = sorted(where.glob(f"*{SUFFIX}"), key=lambda p: (p.stat().st_mtime, p.name))
    if not files:
        raise FileNotFoundError(
            f"folder {str(where)!r} holds no {SUFFIX} recording files; record with record={str(where)!r} first"
        )
    return files


def _read_file(path: pathlib.Path, into: RecordingFile) -> None:
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(path.read_bytes())
    header: dict[str, Any] | None = None
    ended = False
    try:
        for record in unpacker:
            kind = record.get("type") if isinstance(record, dict) else None
            if header is None:
                if kind != "header" or record.get("format") != FORMAT:
                    raise ValueError(f"{path} is not a devkit recording (no {FORMAT!r} header)")
                if record.get("version") != VERSION:
                    raise ValueError(
                        f"{path} is a version {record.get('version')} recording; this devkit reads version {VERSION}"
                    )
                header = record
            elif kind == "exchange":
                into.exchanges.append(_exchange(record, str(path)))
            elif kind == "end":
                ended = True
                if record.get("not_recorded"):
                    into.notes.append(
                        f"{path.name}: {record['not_recorded']} request(s) were not recorded: {record.get('reason')}"
                    )
    except (msgpack.ExtraData, msgpack.FormatError, ValueError) as exc:
        if header is None:
            raise ValueError(f"{path} is not a readable devkit recording: {exc}") from exc
        into.notes.append(f"{path.name}: unreadable after {len(into.exchanges)} exchange(s): {exc}")
    if header is None:
        raise ValueError(f"{path} is empty: not a devkit recording")
    if not ended:
        into.notes.append(
            f"{path.name}: no end record (the gateway did not close cleanly); read what was written"
        )


def read_recording(path: str | os.PathLike[str]) -> RecordingFile:
    """Read a recording file, or every recording file of a folder (oldest first)."""
    recording = RecordingFile()
    for file in recording_files(path):
        _read_file(file, recording)
    return recording
