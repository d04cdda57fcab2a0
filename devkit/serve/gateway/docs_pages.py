"""The ``/docs`` (Swagger UI) and ``/redoc`` pages, with their scripts served locally.

The JavaScript and CSS come from the ``fastapi-offline`` package (part of the ``http``
extra), so the pages work without reaching a CDN.
"""

from __future__ import annotations

import html
import importlib.resources
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

__all__ = ["ASSETS", "docs_routes"]

#: the files the pages load, by the name they are served under ``/docs/assets/``
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
_MEDIA = {".js": "application/javascript", ".css": "text/css", ".png": "image/png"}

_SWAGGER = """<!DOCTYPE html>
<html><head><title>{title} - Swagger UI</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" href="/docs/assets/favicon.png"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true,
presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
layout: 'BaseLayout'}})</script>
</body></html>"""

_REDOC = """<!DOCTYPE html>
<html><head><title>{title} - ReDoc</title><meta charset="utf-8">
<link rel="icon" href="/docs/assets/favicon.png"></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="/docs/assets/redoc.standalone.js"></script>
</body></html>"""


def _asset_dir() -> Any:
    return importlib.resources.files("fastapi_offline") / "static"


def docs_routes(title: str) -> list[Route]:
    safe = html.escape(title)
    swagger, redoc = _SWAGGER.format(title=safe), _REDOC.format(title=safe)

    async def swagger_page(request: Request) -> Response:
        return HTMLResponse(swagger)

    async def redoc_page(request: Request) -> Response:
        return HTMLResponse(redoc)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return Response(status_code=404)
        path = _asset_dir() / name
        return FileResponse(str(path), media_type=_MEDIA[name[name.rindex(".") :]])

    return [
        Route("/docs", swagger_page, methods=["GET"]),
        Route("/redoc", redoc_page, methods=["GET"]),
        Route("/docs/assets/{name}", asset, methods=["GET"]),
    ]
