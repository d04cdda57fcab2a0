"""The baseline of bench/http_gateway.py: a bare uvicorn + Starlette server answering jina's JSON.

``POST /post`` parses the body and answers the same documents in the same response shape
as devkit's HTTP gateway, with nothing between: the floor any HTTP gateway sits on.
Run as ``python bench/http_echo.py PORT``; prints ``ready`` once it listens.
"""

from __future__ import annotations

import sys

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def post(request: Request) -> Response:
    body = orjson.loads(await request.body())
    answer = {
        "header": {"requestId": body.get("requestId", ""), "execEndpoint": body.get("execEndpoint", "/")},
        "parameters": body.get("parameters") or {},
        "routes": [],
        "data": [{**doc, "text": doc.get("text", "").upper()} for doc in body.get("data", [])],
    }
    return Response(orjson.dumps(answer), media_type="application/json")


app = Starlette(routes=[Route("/post", post, methods=["POST"])])

if __name__ == "__main__":
    config = uvicorn.Config(
        app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    print("ready", flush=True)
    server.run()
