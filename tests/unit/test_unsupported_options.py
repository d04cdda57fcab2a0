"""jina options devkit does not have yet fail when the Flow or Deployment is built, by name."""

import textwrap

import pytest

from devkit import Deployment, Executor, Flow, NotSupportedYetError


class Passthrough(Executor):
    pass


OPTIONS = [
    pytest.param(
        {"uses": "jinaai+sandbox://jina-ai/Sentencizer"}, "hosted Executor Hub", id="jinaai-sandbox"
    ),
    pytest.param({"uses": "jinahub+docker://Sentencizer"}, "devkit hub push", id="jinahub-docker"),
    pytest.param({"tracing": True}, "tracing=True asks for OpenTelemetry tracing", id="tracing"),
    pytest.param({"monitoring": True}, "monitoring=True", id="monitoring"),
    pytest.param({"metrics": True}, "metrics=True", id="metrics"),
    pytest.param(
        {"traces_exporter_host": "http://localhost", "traces_exporter_port": 4317},
        "traces_exporter_host='http://localhost' asks for OpenTelemetry tracing",
        id="traces-exporter",
    ),
    pytest.param(
        {"port_monitoring": 9090}, "port_monitoring=9090 asks for Prometheus monitoring", id="port-monitoring"
    ),
]


@pytest.mark.parametrize("option, expected", OPTIONS)
def test_flow_add_refuses_what_is_not_there_yet(option, expected):
    with pytest.raises(NotSupportedYetError, match=r"Flow.add\(name='enc'\).*does not support yet") as info:
        Flow().add(name="enc", **option)
    assert expected in str(info.value)
    assert isinstance(info.value, NotImplementedError)


@pytest.mark.parametrize("option, expected", OPTIONS)
def test_deployment_refuses_what_is_not_there_yet(option, expected):
    with pytest.raises(NotSupportedYetError, match=r"Deployment 'enc'.*does not support yet") as info:
        Deployment(name="enc", **option)
    assert expected in str(info.value)


@pytest.mark.parametrize("flag", ["tracing", "monitoring", "metrics"])
def test_flow_refuses_flags_that_are_not_there_yet(flag):
    with pytest.raises(NotSupportedYetError, match=f"Flow: {flag}=True"):
        Flow(**{flag: True})


def test_jina_tracing_setup_is_refused_by_name_not_as_an_unexpected_argument():
    with pytest.raises(NotSupportedYetError, match="Flow: tracing=True asks for OpenTelemetry tracing"):
        Flow(tracing=True, traces_exporter_host="http://localhost", traces_exporter_port=4317)


def test_flow_yaml_with_an_unsupported_option_fails_on_loading(tmp_path):
    path = tmp_path / "flow.yml"
    path.write_text(
        textwrap.dedent(
            """\
            jtype: Flow
            with:
              monitoring: true
            executors:
              - name: enc
            """
        )
    )
    with pytest.raises(NotSupportedYetError, match="monitoring=True"):
        Flow.load_config(path)
    path.write_text("jtype: Flow\nexecutors:\n  - name: enc\n    uses: jinahub://Sentencizer\n")
    with pytest.raises(NotSupportedYetError, match=r"enc.*jinahub://"):
        Flow.load_config(path)


def test_supported_options_still_build():
    Flow(tracing=False, monitoring=False).add(uses=Passthrough, name="p")
    Deployment(uses=Passthrough, metrics=False)
    Deployment(uses=Passthrough, reload=True)
    Flow(reload=True).add(uses=Passthrough, reload=True)
    Deployment(uses=Passthrough, uses_dynamic_batching={"/": {"preferred_batch_size": 4}})
