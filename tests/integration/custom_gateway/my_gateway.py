"""A custom gateway loaded from a file, as page 56 configures one in YAML."""

from docarray import DocList
from docarray.documents import TextDoc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devkit import FastAPIBaseGateway


class MyFileGateway(FastAPIBaseGateway):
    def __init__(self, arg1: str = "", arg2: str = "", **kwargs):
        super().__init__(**kwargs)
        self.arg1, self.arg2 = arg1, arg2

    @property
    def app(self):
        async def service(request: Request) -> JSONResponse:
            text = request.query_params["text"]
            async for docs in self.streamer.stream_docs(
                DocList[TextDoc]([TextDoc(text=text)]), exec_endpoint="/"
            ):
                return JSONResponse({"result": docs[0].text, "args": [self.arg1, self.arg2]})
            return JSONResponse({})

        return Starlette(routes=[Route("/service", service)])
