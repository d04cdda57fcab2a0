"""Flow YAML (FLOW-3, YAML-3..8): loading, variables, inline Executors, errors, save/load round trip."""

import textwrap

import pytest
from docarray import BaseDoc, DocList

from devkit import ConfigError, Executor, Flow, requests

EXECUTOR_PY = """
from docarray import BaseDoc, DocList
from devkit import Executor, requests


class TextDoc(BaseDoc):
    text: str = ""



class FooExec(Executor):
    @requests
    async def add_text(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for d in docs:
            d.text += "hello, world!"


class BarExec(Executor):
    @requests
    async def add_text(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for d in docs:
            d.text += "goodbye!"


class Suffix(Executor):
    def __init__(self, suffix: str = "?", **kwargs):
        super().__init__(**kwargs)
        self.suffix = suffix

    @requests
    def add(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for d in docs:
            d.text += self.suffix
"""


class TextDoc(BaseDoc):
    text: str = ""


class PyFoo(Executor):
    @requests
    async def add_text(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for d in docs:
            d.text += "hello, world!"


class PyBar(Executor):
    @requests
    async def add_text(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for d in docs:
            d.text += "goodbye!"


@pytest.fixture
def project(tmp_path):
    """A directory with executor.py; write flow YAML next to it with ``project.write(name, text)``."""
    (tmp_path / "executor.py").write_text(EXECUTOR_PY)

    class Project:
        path = tmp_path

        def write(self, name: str, text: str) -> str:
            target = tmp_path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text))
            return str(target)

    return Project()


def post_text(flow: Flow, text: str = "") -> list[str]:
    flow.quiet = True
    with flow:
        return flow.post("/", TextDoc(text=text), return_type=DocList[TextDoc]).text


def test_yamlish_flow_from_the_docs(project):
    path = project.write(
        "flow.yml",
        """
        jtype: Flow
        executors:
        - uses: FooExec
          replicas: 3
          py_modules: executor.py
        - uses: BarExec
          replicas: 2
          py_modules: executor.py
        """,
    )
    flow = Flow.load_config(path)
    assert [e.deployment.replicas for e in flow.spec.executors] == [3, 2]
    assert post_text(flow) == ["hello, world!goodbye!"]


def test_empty_flow_yaml_is_just_a_gateway(project):
    flow = Flow.load_config(project.write("flow.yml", "jtype: Flow\n"))
    assert flow.executor_names == []
    assert post_text(flow, "unchanged") == ["unchanged"]


def test_named_executors_without_uses(project):
    flow = Flow.load_config(
        project.write(
            "flow.yml", "jtype: Flow\nexecutors:\n  - name: myVeryFirstExecutor\n  - name: secondIsBest\n"
        )
    )
    assert flow.executor_names == ["myVeryFirstExecutor", "secondIsBest"]


def test_with_gateway_and_inline_uses(project):
    path = project.write(
        "flow.yml",
        """
        jtype: Flow
        version: '1'
        with:
          name: inline
          timeout_send: 5000
        gateway:
          prefetch: 4
        executors:
          - name: firstexec
            uses:
              jtype: Suffix
              with:
                suffix: "!"
              py_modules:
                - executor.py
          - name: secondexec
            uses: BarExec
            py_modules: executor.py
            needs: firstexec
        """,
    )
    flow = Flow.load_config(path)
    assert flow.name == "inline" and flow.spec.gateway.prefetch == 4
    assert flow.spec.by_name("firstexec").deployment.timeout_send == 5.0
    assert post_text(flow, "x") == ["x!goodbye!"]


def test_relative_py_modules_resolve_against_the_yaml_file(project, monkeypatch, tmp_path_factory):
    project.write("sub/more.py", EXECUTOR_PY)
    path = project.write(
        "sub/flow.yml", "jtype: Flow\nexecutors:\n  - uses: FooExec\n    py_modules: more.py\n"
    )
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert post_text(Flow.load_config(path)) == ["hello, world!"]


def test_env_context_and_executor_references_are_substituted(project, monkeypatch):
    monkeypatch.setenv("FLOW_SUFFIX", "-env")
    path = project.write(
        "flow.yml",
        """
        jtype: Flow
        with:
          name: ${{ CONTEXT.flow_name }}
        executors:
          - name: first
            uses: Suffix
            py_modules: executor.py
            uses_with:
              suffix: ${{ ENV.FLOW_SUFFIX }}
          - name: second
            uses: Suffix
            py_modules: executor.py
            uses_with: ${{ executors.first.uses_with }}
        """,
    )
    flow = Flow.load_config(path, context={"flow_name": "from-context"})
    assert flow.name == "from-context"
    assert post_text(flow, "x") == ["x-env-env"]


@pytest.mark.parametrize(
    "text, key, line",
    [
        ("jtype: Flow\nexecutors:\n  - name: a\n    replicaz: 2\n", "replicaz", 4),
        ("jtype: Flow\nwith:\n  prefetchh: 2\n", "prefetchh", 3),
        ("jtype: Flow\ngateway:\n  port: 1\n  colour: red\n", "colour", 4),
        ("jtype: Flow\nexecuters: []\n", "executers", 2),
    ],
    ids=["executor", "with", "gateway", "top-level"],
)
def test_unknown_keys_are_reported_with_file_and_line(project, text, key, line):
    path = project.write("flow.yml", text)
    with pytest.raises(ConfigError) as info:
        Flow.load_config(path)
    assert repr(key) in str(info.value) or key in str(info.value)
    assert f"flow.yml:{line}" in str(info.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "jtype: Flow\nexecutors:\n  - name: a\n    needs: b\n  - name: b\n    needs: a\n",
            r"flow.yml:5: .*cycle: (a -> b -> a|b -> a -> b)",
        ),
        (
            "jtype: Flow\nexecutors:\n  - name: a\n  - name: b\n    needs: nowhere\n",
            r"flow.yml:2: invalid Flow topology: Executor 'b' needs 'nowhere', which is not in the Flow",
        ),
        ("jtype: Flow\nexecutors:\n  - name: a\n  - name: a\n", r"flow.yml:4: .*'a'.*unique"),
    ],
    ids=["cycle", "unknown-need", "duplicate-name"],
)
def test_topology_errors_are_reported_when_the_yaml_is_loaded(project, text, expected):
    path = project.write("flow.yml", text)
    with pytest.raises(ConfigError, match=expected):
        Flow.load_config(path)


def test_a_yaml_that_is_not_a_flow_is_rejected(project):
    with pytest.raises(ConfigError, match="jtype: Flow"):
        Flow.load_config(project.write("flow.yml", "jtype: Deployment\n"))


def test_save_config_then_load_config_round_trips(project):
    source = Flow.load_config(
        project.write(
            "flow.yml",
            """
            jtype: Flow
            with:
              name: roundtrip
            executors:
              - name: foo
                uses: FooExec
                replicas: 3
                py_modules: executor.py
              - name: bar
                uses: BarExec
                replicas: 2
                py_modules: executor.py
              - name: side
                uses: Suffix
                uses_with: {suffix: "?"}
                py_modules: executor.py
                needs: gateway
                when: {text: {$eq: ""}}
              - name: join
                needs: [bar, side]
                no_reduce: true
            """,
        )
    )
    saved = project.path / "saved.yml"
    source.save_config(saved)
    loaded = Flow.load_config(saved)
    assert loaded.name == "roundtrip"

    def shape(flow: Flow) -> list[tuple]:
        return [
            (e.name, e.needs, e.deployment.replicas, e.when, e.no_reduce, e.deployment.executor.uses_with)
            for e in flow.spec.executors
        ]

    assert shape(loaded) == shape(source)
    # the join does not reduce and has no Executor of its own: the first input (bar's) passes on
    assert post_text(loaded) == ["hello, world!goodbye!"]


def test_python_flow_saved_to_yaml_reloads_with_its_executor_classes(tmp_path):
    Flow().add(uses=PyFoo, replicas=3).add(uses=PyBar, replicas=2).save_config(tmp_path / "flow.yml")
    loaded = Flow.load_config(tmp_path / "flow.yml")
    assert [e.deployment.replicas for e in loaded.spec.executors] == [3, 2]
    assert post_text(loaded) == ["hello, world!goodbye!"]
