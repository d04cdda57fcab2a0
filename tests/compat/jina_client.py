"""A jina 3.34 Client run by the compat tests with the jina environment's python.

Usage: ``python jina_client.py PORT [PROTOCOL]`` (grpc, http or websocket; grpc by default)
with a JSON list of calls on stdin; prints one
JSON document (a list of outcomes, one per call) on stdout. Each call is::

    {"on": "/endpoint", "texts": ["a", "b"], "parameters": {...}, "stream": true,
     "request_size": 100, "embed": false}

or ``{"ready": true}`` (``Client.is_flow_ready``) or ``{"stream_doc": "/endpoint", "text": "a"}``
(the async client's ``stream_doc``). Each outcome is either
``{"ok": true, "responses": [{"docs": [...], "parameters": {...}}]}`` (or ``"ready"``/``"docs"``)
or ``{"ok": false, "error": {"type": ..., "executor": ..., "name": ..., ...}}``.

This file runs under jina's environment only; it never imports devkit.
"""

import asyncio
import json
import os
import sys

os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")  # never phone home from a test

import numpy as np
from docarray import BaseDoc, DocList
from docarray.typing import NdArray
from jina import Client


class TextDoc(BaseDoc):
    text: str = ""
    n: int = 0
    embedding: NdArray | None = None


def doc_json(doc: TextDoc) -> dict:
    return {
        "id": doc.id,
        "text": doc.text,
        "n": doc.n,
        "embedding": None if doc.embedding is None else np.asarray(doc.embedding).tolist(),
    }


async def stream_doc(port: int, on: str, text: str, protocol: str = "grpc") -> list[dict]:
    client = Client(host="127.0.0.1", port=port, protocol=protocol, asyncio=True)
    return [
        doc_json(doc)
        async for doc in client.stream_doc(on=on, inputs=TextDoc(text=text), return_type=TextDoc)
    ]


def run_call(client: Client, call: dict) -> dict:
    if call.get("ready"):
        return {"ok": True, "ready": bool(client.is_flow_ready())}
    if "stream_doc" in call:
        try:
            protocol = str(
                client.args.protocol[0] if isinstance(client.args.protocol, list) else client.args.protocol
            )
            docs = asyncio.run(
                stream_doc(client.args.port, call["stream_doc"], call["text"], protocol.lower())
            )
        except Exception as exc:  # reported to the test
            return {"ok": False, "error": {"type": type(exc).__name__, "message": str(exc)[:2000]}}
        return {"ok": True, "docs": docs}
    docs = DocList[TextDoc](
        [
            TextDoc(
                id=f"doc-{i}",
                text=text,
                embedding=np.arange(3, dtype=np.float32) + i if call.get("embed") else None,
            )
            for i, text in enumerate(call.get("texts", []))
        ]
    )
    try:
        responses = client.post(
            call["on"],
            inputs=docs,
            parameters=call.get("parameters"),
            request_size=call.get("request_size", 100),
            stream=call.get("stream", True),
            results_in_order=True,
            return_responses=True,
            return_type=DocList[TextDoc],
        )
    except Exception as exc:  # reported to the test
        error = {"type": type(exc).__name__, "message": str(exc)[:2000]}
        header = exc.args[0] if exc.args else None
        status = getattr(header, "status", None)
        if status is not None:
            error.update(
                executor=status.exception.executor,
                name=status.exception.name,
                args=list(status.exception.args),
                description=status.description,
                endpoint=header.exec_endpoint,
            )
        return {"ok": False, "error": error}
    out = []
    for response in responses:
        out.append(
            {
                "docs": [doc_json(doc) for doc in response.docs],
                "parameters": response.parameters,
                "routes": [route.executor for route in response.routes],
            }
        )
    return {"ok": True, "responses": out}


def main() -> int:
    port = int(sys.argv[1])
    protocol = sys.argv[2] if len(sys.argv) > 2 else "grpc"
    calls = json.load(sys.stdin)
    client = Client(host="127.0.0.1", port=port, protocol=protocol)
    outcomes = [run_call(client, call) for call in calls]
    sys.stdout.write("\n" + json.dumps(outcomes) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
