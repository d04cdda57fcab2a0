"""The Executor as a plain Python class: endpoint tables, signatures, config and YAML."""

from __future__ import annotations

import textwrap

import pytest
from docarray import BaseDoc, DocList
from pydantic import BaseModel

from devkit import ConfigError, EndpointSignatureError, Executor, ExecutorLoadError, requests
from devkit.documents import UntypedDoc
from devkit.executor import DEFAULT_ENDPOINT


class TextDoc(BaseDoc):
    text: str = ""


class LengthDoc(BaseDoc):
    length: int = 0


class MyExecutor(Executor):
    def __init__(self, param1: int = 1, param2: int = 2, param3: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.param1 = param1
        self.param2 = param2
        self.param3 = param3

    @requests(on="/foo")
    def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = "foo"

    @requests(on=["/a", "b"])
    def many(self, docs: DocList[TextDoc], **kwargs) -> DocList[LengthDoc]:
        return DocList[LengthDoc]([LengthDoc(length=len(doc.text)) for doc in docs])

    @requests
    def default(self, docs, **kwargs):
        pass


def test_executor_is_a_plain_python_class():
    executor = MyExecutor()
    docs = DocList[TextDoc]([TextDoc(text="hello")])
    executor.foo(docs)
    assert docs.text == ["foo"]
    lengths = executor.many(DocList[TextDoc]([TextDoc(text="abc")]))
    assert lengths.length == [3]


def test_requests_with_and_without_on_builds_the_endpoint_table():
    table = MyExecutor().requests
    assert set(table) == {"/foo", "/a", "/b", DEFAULT_ENDPOINT}
    assert table["/foo"].method_name == "foo"
    assert table["/a"].method_name == table["/b"].method_name == "many"
    assert table[DEFAULT_ENDPOINT].method_name == "default"


def test_unbound_endpoint_falls_back_to_the_default_handler():
    executor = MyExecutor()
    assert executor.endpoint_for("/foo").method_name == "foo"
    assert executor.endpoint_for("/anything").method_name == "default"


def test_without_default_handler_an_unbound_endpoint_has_no_method():
    class OnlyFoo(Executor):
        @requests(on="/foo")
        def foo(self, **kwargs):
            pass

    assert OnlyFoo().endpoint_for("/bar") is None


def test_schemas_are_read_from_type_hints():
    table = MyExecutor().requests
    assert table["/foo"].request_schema is TextDoc
    assert table["/foo"].response_schema is TextDoc
    assert table["/a"].request_schema is TextDoc
    assert table["/a"].response_schema is LengthDoc
    assert table[DEFAULT_ENDPOINT].request_schema is UntypedDoc  # schemaless, fields assignable


def test_request_and_response_schema_arguments_override_hints():
    class Explicit(Executor):
        @requests(on="/x", request_schema=DocList[TextDoc], response_schema=LengthDoc)
        def x(self, docs, **kwargs):
            pass

    endpoint = Explicit().requests["/x"]
    assert endpoint.request_schema is TextDoc
    assert endpoint.response_schema is LengthDoc


class Params(BaseModel):
    factor: int = 1


def test_single_document_endpoint_and_pydantic_parameters():
    class Single(Executor):
        @requests(on="/one")
        def one(self, doc: TextDoc, parameters: Params, **kwargs) -> TextDoc:
            return doc

    endpoint = Single().requests["/one"]
    assert endpoint.single_doc
    assert endpoint.request_schema is TextDoc
    assert endpoint.parameters_model is Params


def test_one_unresolvable_hint_keeps_the_other_schemas():
    # with `from __future__ import annotations` hints are strings; a class local to this
    # function cannot be resolved, but the module-level TextDoc still must be
    class Local(BaseModel):
        value: int = 0

    class Partly(Executor):
        @requests(on="/p")
        def p(self, docs: DocList[TextDoc], parameters: Local, **kwargs) -> DocList[LengthDoc]:
            pass

    endpoint = Partly().requests["/p"]
    assert endpoint.request_schema is TextDoc
    assert endpoint.response_schema is LengthDoc


def test_async_and_streaming_endpoints_are_recognised():
    class Streamer(Executor):
        @requests(on="/stream")
        async def stream(self, doc: TextDoc, **kwargs):
            yield doc

        @requests(on="/async")
        async def batch(self, docs, **kwargs):
            pass

    table = Streamer().requests
    assert table["/stream"].is_generator and table["/stream"].is_async
    assert table["/async"].is_async and not table["/async"].is_generator


@pytest.mark.parametrize(
    "source, message",
    [
        ("def foo(self, docs, query, **kwargs): pass", "query"),
        ("def foo(self, doc, docs, **kwargs): pass", "both 'doc' and 'docs'"),
        ("async def foo(self, docs, **kwargs):\n    yield docs", "single 'doc'"),
    ],
    ids=["unknown-argument", "doc-and-docs", "streaming-batch"],
)
def test_bad_endpoint_signature_raises_endpoint_signature_error(source, message):
    namespace: dict = {}
    exec(textwrap.dedent(source), namespace)  # build the method from source to vary the signature
    with pytest.raises(EndpointSignatureError, match=message) as info:
        type("Bad", (Executor,), {"foo": requests(on="/foo")(namespace["foo"])})()
    assert "Bad.foo" in str(info.value)


def test_uses_with_overrides_only_the_given_arguments():
    # EXE-39: param1: 10 / param2: 2 / param3: 30
    executor = Executor.load_config(
        "jtype: MyExecutor\nwith:\n  param1: 1\n  param2: 2\n  param3: 3\n",
        uses_with={"param1": 10, "param3": 30},
    )
    assert (executor.param1, executor.param2, executor.param3) == (10, 2, 30)


def test_uses_metas_sets_the_name():
    executor = MyExecutor(metas={"name": "different_name"})
    assert executor.metas.name == "different_name"


def test_unexpected_constructor_argument_is_reported():
    with pytest.raises(TypeError, match="unexpected arguments"):
        Executor(not_an_argument=1)


def test_workspace_is_created_under_the_given_root(tmp_path):
    executor = MyExecutor(metas={"name": "ws"}, workspace=str(tmp_path))
    assert executor.workspace == str(tmp_path / "ws")
    assert (tmp_path / "ws").is_dir()


def test_runtime_args_are_exposed():
    executor = MyExecutor(runtime_args={"name": "dep", "replicas": 2, "shards": 3, "shard_id": 1})
    assert executor.runtime_args.replicas == 2
    assert executor.runtime_args.shards == 3
    assert executor.runtime_args.shard_id == 1
    assert executor.metas.name == "dep"


def test_load_config_from_yaml_file_with_metas_and_py_modules(tmp_path):
    (tmp_path / "my_module.py").write_text(
        textwrap.dedent(
            """
            from devkit import Executor, requests

            class YamlLoadedExecutor(Executor):
                def __init__(self, greeting: str = 'hi', **kwargs):
                    super().__init__(**kwargs)
                    self.greeting = greeting

                @requests
                def foo(self, docs, **kwargs):
                    pass
            """
        )
    )
    (tmp_path / "exec.yml").write_text(
        textwrap.dedent(
            """
            jtype: YamlLoadedExecutor
            with:
              greeting: hello
            metas:
              name: from-yaml
              description: loaded from YAML
            py_modules:
              - my_module.py
            """
        )
    )
    executor = Executor.load_config(str(tmp_path / "exec.yml"))
    assert type(executor).__name__ == "YamlLoadedExecutor"
    assert executor.greeting == "hello"
    assert executor.metas.name == "from-yaml"
    assert executor.metas.description == "loaded from YAML"


def test_yaml_unknown_key_is_a_config_error_with_file_and_line(tmp_path):
    path = tmp_path / "exec.yml"
    path.write_text("jtype: MyExecutor\nwith:\n  param1: 1\nwhith:\n  param2: 2\n")
    with pytest.raises(ConfigError, match=r"'whith' at .*exec\.yml:4"):
        Executor.load_config(str(path))


def test_yaml_unknown_jtype_is_a_config_error_with_file_and_line(tmp_path):
    path = tmp_path / "exec.yml"
    path.write_text("# an Executor\njtype: NoSuchExecutorClass\n")
    with pytest.raises(ConfigError, match=r"exec\.yml:2.*NoSuchExecutorClass"):
        Executor.load_config(str(path))


def test_yaml_with_unknown_argument_is_a_config_error(tmp_path):
    path = tmp_path / "exec.yml"
    path.write_text("jtype: MyExecutor\nwith:\n  param9: 1\n")
    with pytest.raises(ConfigError, match="param9"):
        Executor.load_config(str(path))


def test_missing_py_module_is_an_executor_load_error(tmp_path):
    path = tmp_path / "exec.yml"
    path.write_text("jtype: MyExecutor\npy_modules:\n  - missing_module.py\n")
    with pytest.raises(ExecutorLoadError, match=r"missing_module\.py"):
        Executor.load_config(str(path))


class RebindExecutor(Executor):
    @requests(on="/foo")
    def foo(self, **kwargs):
        return "foo()"

    def bar(self, **kwargs):
        return "bar()"

    @requests
    def all_req(self, **kwargs):
        return "all_req()"


def test_uses_requests_rebinds_endpoints():
    # EXE-40: the override replaces foo's decorator binding and binds the undecorated bar
    executor = RebindExecutor(requests={"/bar": "bar", "/non_foo": "foo", "/alias_foo": "foo"})
    bound = {
        name: executor.endpoint_for(name).method_name for name in ("/bar", "/non_foo", "/foo", "/alias_foo")
    }
    assert bound == {"/bar": "bar", "/non_foo": "foo", "/foo": "all_req", "/alias_foo": "foo"}


def test_uses_requests_naming_a_missing_method_is_an_error():
    with pytest.raises(EndpointSignatureError, match="nope"):
        RebindExecutor(requests={"/x": "nope"})
