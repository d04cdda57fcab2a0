"""Custom gateways (docs page 56): Gateway and FastAPIBaseGateway, the streamer, single Executors."""

from __future__ import annotations

import pathlib

import httpx
from docarray import DocList
from docarray.documents import TextDoc
from fastapi import FastAPI
from uvicorn import Config, Server

from devkit import Executor, FastAPIBaseGateway, Flow, Gateway, requests

HERE = pathlib.Path(__file__).parent


class FirstExec(Executor):
    @requests
    def func(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += " saw the first executor"
        return docs


class SecondExec(Executor):
    @requests
    def func(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += " saw the second executor"
        return docs


class Failing(Executor):
    @requests
    def func(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        raise RuntimeError("cannot do it")


class MyFastAPIGateway(FastAPIBaseGateway):
    @property
    def app(self):
        app = FastAPI(title="Custom FastAPI Gateway")

        @app.get("/endpoint")
        async def get(text: str):
            result = None
            async for docs in self.streamer.stream_docs(
                docs=DocList[TextDoc]([TextDoc(text=text)]), exec_endpoint="/", return_type=DocList[TextDoc]
            ):
                result = docs[0].text
            return {"result": result}

        return app


class MyGateway(Gateway):
    """Any asyncio server: setup_server / run_server / shutdown, bound to the injected host and port."""

    def __init__(self, greeting: str = "hello", **kwargs):
        super().__init__(**kwargs)
        self.greeting = greeting

    async def setup_server(self):
        app = FastAPI(title="My Custom Gateway")

        @app.get(path="/service")
        async def my_service(input: str):
            result = None
            async for docs in self.streamer.stream_docs(
                docs=DocList[TextDoc]([TextDoc(text=input)]), exec_endpoint="/"
            ):
                result = docs[0].text
            return {"result": f"{self.greeting}: {result}"}

        @app.get(path="/")
        def health_check():
            return {}

        self.server = Server(Config(app, host=self.host, port=self.port, log_level="warning"))

    async def run_server(self):
        await self.server.serve()

    async def shutdown(self):
        self.server.should_exit = True
        await self.server.shutdown()


class PerExecutorGateway(FastAPIBaseGateway):
    @property
    def app(self):
        import asyncio

        app = FastAPI()

        @app.get("/sequential")
        async def sequential(text: str):
            docs1 = await self.executor["executor1"].post(
                on="/",
                inputs=DocList[TextDoc]([TextDoc(text=text)]),
                parameters={"k": "v"},
                return_type=DocList[TextDoc],
            )
            docs2 = await self.executor["executor2"].post(
                on="/",
                inputs=DocList[TextDoc]([TextDoc(text=text)]),
                parameters={"k": "v"},
                return_type=DocList[TextDoc],
            )
            return {"result": docs1.text + docs2.text}

        @app.get("/parallel")
        async def parallel(text: str):
            call1 = self.executor["executor1"].post(
                on="/", inputs=DocList[TextDoc]([TextDoc(text=text)]), return_type=DocList[TextDoc]
            )
            call2 = self.executor["executor2"].post(
                on="/", inputs=DocList[TextDoc]([TextDoc(text=text)]), return_type=DocList[TextDoc]
            )
            docs1, docs2 = await asyncio.gather(call1, call2)
            return {"result": docs1.text + docs2.text}

        return app


class ErrorsGateway(FastAPIBaseGateway):
    @property
    def app(self):
        app = FastAPI()

        @app.get("/endpoint")
        async def get(text: str):
            results, errors = [], []
            async for docs, error in self.streamer.stream(
                docs=DocList[TextDoc]([TextDoc(text=text)]), exec_endpoint="/"
            ):
                if error:
                    errors.append(error)
                else:
                    results.append(docs[0].text)
            return {"results": results, "errors": [error.name for error in errors]}

        return app


def test_fastapi_base_gateway_serves_its_app_over_the_flow():
    flow = Flow(quiet=True).config_gateway(uses=MyFastAPIGateway, protocol="http").add(uses=FirstExec)
    with flow:
        response = httpx.get(f"http://127.0.0.1:{flow.port}/endpoint", params={"text": "hello"})
        assert response.json() == {"result": "hello saw the first executor"}
        assert httpx.get(f"http://127.0.0.1:{flow.port}/").status_code == 200  # health added by devkit


def test_gateway_subclass_runs_any_server_on_the_injected_port(free_port):
    flow = Flow(quiet=True).config_gateway(
        uses=MyGateway, port=free_port, protocol="http", uses_with={"greeting": "hi"}
    )
    with flow.add(uses=FirstExec):
        assert flow.port == free_port
        response = httpx.get(f"http://127.0.0.1:{free_port}/service", params={"input": "x"})
        assert response.json() == {"result": "hi: x saw the first executor"}


def test_executor_mapping_calls_single_executors():
    flow = (
        Flow(quiet=True)
        .config_gateway(uses=PerExecutorGateway, protocol="http")
        .add(uses=FirstExec, name="executor1")
        .add(uses=SecondExec, name="executor2")
    )
    with flow:
        expected = ["hello saw the first executor", "hello saw the second executor"]
        for path in ("/sequential", "/parallel"):
            assert (
                httpx.get(f"http://127.0.0.1:{flow.port}{path}", params={"text": "hello"}).json()["result"]
                == expected
            )


def test_stream_returns_executor_errors_instead_of_raising():
    with Flow(quiet=True).config_gateway(uses=ErrorsGateway, protocol="http").add(uses=Failing) as flow:
        body = httpx.get(f"http://127.0.0.1:{flow.port}/endpoint", params={"text": "x"}).json()
        assert body == {"results": [], "errors": ["RuntimeError"]}


def test_gateway_config_yaml_with_py_modules(tmp_path):
    config = tmp_path / "config.yml"
    config.write_text(
        f"!MyFileGateway\npy_modules: {HERE / 'custom_gateway' / 'my_gateway.py'}\nwith:\n  arg1: hello\n  arg2: world\n"
    )
    flow = Flow(quiet=True).config_gateway(uses=str(config), protocol="http", uses_with={"arg2": "value"})
    with flow.add(uses=FirstExec):
        body = httpx.get(f"http://127.0.0.1:{flow.port}/service", params={"text": "t"}).json()
        assert body == {"result": "t saw the first executor", "args": ["hello", "value"]}


def test_flow_yaml_gateway_section_with_a_custom_gateway(tmp_path, free_port):
    (tmp_path / "my_gateway").mkdir()
    (tmp_path / "my_gateway" / "my_gateway.py").write_text(
        (HERE / "custom_gateway" / "my_gateway.py").read_text()
    )
    flow_yml = tmp_path / "flow.yml"
    flow_yml.write_text(
        f"""jtype: Flow
gateway:
  py_modules: my_gateway/my_gateway.py
  uses: MyFileGateway
  with:
    arg1: value
  protocol: http
  port: {free_port}
executors:
  - uses: {__name__}.FirstExec
"""
    )
    with Flow.load_config(str(flow_yml)):
        body = httpx.get(f"http://127.0.0.1:{free_port}/service", params={"text": "t"}).json()
        assert body == {"result": "t saw the first executor", "args": ["value", ""]}
