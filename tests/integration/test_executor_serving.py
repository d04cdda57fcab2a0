"""Executors served by a Deployment, on both runtimes, as the docs' examples use them."""

import asyncio
import os
import textwrap

import pytest
from docarray import BaseDoc, DocList
from pydantic import BaseModel

from devkit import Client, Deployment, Executor, ExecutorError, requests


class TextDoc(BaseDoc):
    text: str = ""


class LengthDoc(BaseDoc):
    text: str = ""
    length: int = 0


class Params(BaseModel):
    suffix: str = "!"
    times: int = 1


class MyExec(Executor):
    @requests(on="/foo")
    def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = "foo was here"

    @requests(on=["/bar", "/baz"])
    async def bar(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        await asyncio.sleep(0)
        for doc in docs:
            doc.text = "bar was here"

    @requests(on="/length")
    def length(self, docs: DocList[TextDoc], **kwargs) -> DocList[LengthDoc]:
        return DocList[LengthDoc]([LengthDoc(text=doc.text, length=len(doc.text)) for doc in docs])

    @requests(on="/status")
    def status(self, **kwargs):
        return {"internal_parameter": 20}

    @requests(on="/params")
    def params(self, docs: DocList[TextDoc], parameters: dict, **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = f"{doc.text}{parameters['suffix']}"

    @requests(on="/model-params")
    def model_params(self, docs: DocList[TextDoc], parameters: Params, **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text + parameters.suffix * parameters.times

    @requests(on="/single")
    def single(self, doc: TextDoc, **kwargs) -> TextDoc:
        return TextDoc(text=doc.text.upper())

    @requests(on="/single-async")
    async def single_async(self, doc: TextDoc, **kwargs) -> TextDoc:
        doc.text = doc.text[::-1]

    @requests
    def default(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = "default"

    @requests(on="/stream")
    async def stream(self, doc: TextDoc, **kwargs) -> TextDoc:
        for word in doc.text.split():
            yield TextDoc(text=word)

    @requests(on="/explicit", request_schema=DocList[TextDoc], response_schema=DocList[LengthDoc])
    def explicit(self, docs, **kwargs):
        return DocList[LengthDoc]([LengthDoc(text=doc.text, length=len(doc.text)) for doc in docs])

    @requests(on="/sync-stream")
    def sync_stream(self, doc: TextDoc, **kwargs) -> TextDoc:
        for char in doc.text:
            yield TextDoc(text=char)

    @requests(on="/broken-stream")
    async def broken_stream(self, doc: TextDoc, **kwargs) -> TextDoc:
        yield TextDoc(text="first")
        raise RuntimeError("the stream broke")

    @requests(on="/metas")
    def metas(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = f"{self.metas.name}|{self.runtime_args.replicas}|{self.runtime_args.shards}"


class OnlyFoo(Executor):
    @requests(on="/foo")
    def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = "foo"


class Configured(Executor):
    def __init__(self, param1: int = 1, param2: int = 2, param3: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.param1 = param1
        self.param2 = param2
        self.param3 = param3

    @requests
    def show(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = (
                f"param1: {self.param1} / param2: {self.param2} / param3: {self.param3} / {self.metas.name}"
            )


class RebindExecutor(Executor):
    @requests(on="/foo")
    def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = "foo foo()"

    def bar(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = "bar bar()"

    @requests
    def all_req(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = "all req all_req()"


class Persisting(Executor):
    """Writes a file into its workspace on close(), as the docs' persistence example."""

    @requests
    def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = self.workspace

    def close(self) -> None:
        with open(os.path.join(self.workspace, "closed.txt"), "w") as f:
            f.write("bye")


def one(text="hello"):
    return DocList[TextDoc]([TextDoc(text=text)])


@pytest.fixture(scope="module")
def dep(runtime):
    with Deployment(uses=MyExec, runtime=runtime, quiet=True) as dep:
        yield dep


def test_sync_endpoint(dep):
    assert dep.post("/foo", one(), return_type=DocList[TextDoc]).text == ["foo was here"]


@pytest.mark.parametrize("endpoint", ["/bar", "/baz", "bar"])
def test_async_endpoint_bound_to_a_list(dep, endpoint):
    assert dep.post(endpoint, one(), return_type=DocList[TextDoc]).text == ["bar was here"]


def test_default_handler_takes_unbound_endpoints(dep):
    assert dep.post("/anything", one(), return_type=DocList[TextDoc]).text == ["default"]
    assert dep.post("/", one(), return_type=DocList[TextDoc]).text == ["default"]


def test_returning_a_doclist_of_another_schema(dep):
    result = dep.post("/length", one("four"), return_type=DocList[LengthDoc])
    assert result.length == [4]
    assert result.text == ["four"]


def test_returning_a_dict_puts_it_into_results(dep):
    (response,) = dep.post("/status", return_responses=True)
    assert response.to_dict()["parameters"] == {
        "__results__": {"executor/rep-0": {"internal_parameter": 20.0}}
    }


def test_parameters_as_dict(dep):
    result = dep.post("/params", one("hi"), parameters={"suffix": "?"}, return_type=DocList[TextDoc])
    assert result.text == ["hi?"]


def test_parameters_as_pydantic_model(dep):
    result = dep.post("/model-params", one("hi"), parameters=Params(times=3), return_type=DocList[TextDoc])
    assert result.text == ["hi!!!"]
    result = dep.post("/model-params", one("hi"), parameters={"suffix": "?"}, return_type=DocList[TextDoc])
    assert result.text == ["hi?"]


def test_request_and_response_schema_arguments(dep):
    result = dep.post("/explicit", one("four"), return_type=DocList[LengthDoc])
    assert result.length == [4]


def test_parameters_targeted_at_one_executor(dep):
    # `<executor name>__<key>` reaches only that Executor and wins over the plain key
    parameters = {"suffix": "!", "executor__suffix": "?", "another__suffix": "#"}
    assert dep.post("/params", one("hi"), parameters=parameters, return_type=DocList[TextDoc]).text == ["hi?"]


def test_single_document_endpoints(dep):
    docs = DocList[TextDoc]([TextDoc(text="ab"), TextDoc(text="cd")])
    assert dep.post("/single", docs, return_type=DocList[TextDoc]).text == ["AB", "CD"]
    assert dep.post("/single-async", docs, return_type=DocList[TextDoc]).text == ["ba", "dc"]


def test_streaming_endpoint(dep):
    words = dep.stream_doc("/stream", TextDoc(text="hello streaming world"), return_type=TextDoc)
    assert [doc.text for doc in words] == ["hello", "streaming", "world"]


def test_sync_generator_streams_too(dep):
    letters = dep.stream_doc("/sync-stream", TextDoc(text="abc"), return_type=TextDoc)
    assert [doc.text for doc in letters] == ["a", "b", "c"]


def test_streaming_endpoint_error_is_an_executor_error(dep):
    with pytest.raises(ExecutorError, match=r"RuntimeError.*the stream broke"):
        dep.stream_doc("/broken-stream", TextDoc(), return_type=TextDoc)


def test_an_endpoint_nobody_serves_is_an_error_naming_it(runtime):
    # jina silently passes such a request through; devkit says what went wrong. In a Flow
    # the gateway still skips Executors that lack the endpoint (see test_flow_parameters).
    with (
        Deployment(uses=OnlyFoo, runtime=runtime, quiet=True) as dep,
        pytest.raises(ExecutorError, match="does not serve endpoint '/other'"),
    ):
        dep.post("/other", one("untouched"), return_type=DocList[TextDoc])


def test_no_executor_at_all_passes_documents_through():
    with Deployment(quiet=True) as dep:
        assert dep.post("/", one("untouched"), return_type=DocList[TextDoc]).text == ["untouched"]


def test_uses_with_and_uses_metas(runtime):
    # EXE-39 and EXE-41
    with Deployment(
        uses=Configured,
        runtime=runtime,
        uses_with={"param1": 10, "param3": 30},
        uses_metas={"name": "different_name"},
        quiet=True,
    ) as dep:
        (text,) = dep.post("/", one(), return_type=DocList[TextDoc]).text
    assert text == "param1: 10 / param2: 2 / param3: 30 / different_name"


def test_metas_name_defaults_to_the_deployment_name_and_runtime_args(dep):
    assert dep.post("/metas", one(), return_type=DocList[TextDoc]).text == ["executor|1|1"]


def test_uses_requests_rebinds_endpoints(runtime):
    # EXE-40
    rebinding = {"/bar": "bar", "/non_foo": "foo", "/alias_foo": "foo"}
    with Deployment(uses=RebindExecutor, runtime=runtime, uses_requests=rebinding, quiet=True) as dep:
        texts = [
            dep.post(on, one(), return_type=DocList[TextDoc]).text[0]
            for on in ["/bar", "/non_foo", "/foo", "/alias_foo"]
        ]
    assert texts == ["bar bar()", "foo foo()", "all req all_req()", "foo foo()"]


def test_close_runs_when_the_deployment_stops(runtime, tmp_path):
    with Deployment(uses=Persisting, runtime=runtime, workspace=str(tmp_path), quiet=True) as dep:
        (workspace,) = dep.post("/", one(), return_type=DocList[TextDoc]).text
    assert workspace == str(tmp_path / "executor")  # <workspace>/<Executor name>
    assert (tmp_path / "executor" / "closed.txt").read_text() == "bye"


EXECUTOR_MODULE = """
from docarray import BaseDoc, DocList
from devkit import Executor, requests


class GreetingDoc(BaseDoc):
    text: str = ""


class Greeter(Executor):
    def __init__(self, greeting: str = "hi", **kwargs):
        super().__init__(**kwargs)
        self.greeting = greeting

    @requests
    def greet(self, docs: DocList[GreetingDoc], **kwargs) -> DocList[GreetingDoc]:
        for doc in docs:
            doc.text = f"{self.greeting} from {self.metas.name}"
"""


@pytest.fixture
def executor_folder(tmp_path):
    folder = tmp_path / "greeter"
    folder.mkdir()
    (folder / "greeter_module.py").write_text(EXECUTOR_MODULE)
    (folder / "config.yml").write_text(
        textwrap.dedent(
            """
            jtype: Greeter
            with:
              greeting: hello
            metas:
              name: yaml-greeter
            py_modules:
              - greeter_module.py
            """
        )
    )
    return folder


def test_executor_yaml_in_a_deployment(runtime, executor_folder):
    with Deployment(uses=str(executor_folder / "config.yml"), runtime=runtime, quiet=True) as dep:
        assert dep.post("/", one(), return_type=DocList[TextDoc]).text == ["hello from yaml-greeter"]


def test_py_modules_and_class_name(runtime, executor_folder):
    with Deployment(
        uses="Greeter",
        py_modules=[str(executor_folder / "greeter_module.py")],
        uses_with={"greeting": "hey"},
        runtime=runtime,
        quiet=True,
    ) as dep:
        assert dep.post("/", one(), return_type=DocList[TextDoc]).text == ["hey from executor"]


def test_deployment_yaml_with_relative_executor_yaml(runtime, executor_folder):
    (executor_folder / "deployment.yml").write_text(
        f"jtype: Deployment\nwith:\n  uses: config.yml\n  runtime: {runtime}\n  quiet: true\n"
    )
    with Deployment.load_config(str(executor_folder / "deployment.yml")) as dep:
        assert dep.post("/", one(), return_type=DocList[TextDoc]).text == ["hello from yaml-greeter"]


def test_streaming_through_the_client(dep):
    with Client(port=dep.port) as client:
        words = client.stream_doc(on="/stream", inputs=TextDoc(text="a b"), return_type=TextDoc)
    assert [doc.text for doc in words] == ["a", "b"]


def test_streaming_through_a_gateway():
    with Deployment(uses=MyExec, replicas=2, quiet=True) as dep:
        words = dep.stream_doc("/stream", TextDoc(text="one two"), return_type=TextDoc)
    assert [doc.text for doc in words] == ["one", "two"]


class _ReadsEnv(Executor):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = os.environ.get("DEVKIT_TEST_SECRET", "")

    @requests
    def read(self, docs: DocList[TextDoc], **kwargs) -> None:
        for doc in docs:
            doc.text = self.seen


def test_env_reaches_the_executor_and_is_restored_afterwards(runtime):
    assert "DEVKIT_TEST_SECRET" not in os.environ
    with Deployment(uses=_ReadsEnv, runtime=runtime, env={"DEVKIT_TEST_SECRET": "s3cret"}, quiet=True) as dep:
        assert dep.post("/", one("x"), return_type=DocList[TextDoc]).text == ["s3cret"]
    assert "DEVKIT_TEST_SECRET" not in os.environ
