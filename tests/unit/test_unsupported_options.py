"""jina options devkit does not have yet fail when the Flow or Deployment is built, by name."""

import pytest

from devkit import Deployment, Executor, Flow, NotSupportedYetError, requests


class Passthrough(Executor):
    pass


class Batchable(Executor):
    @requests
    def foo(self, docs, **kwargs) -> None: ...


OPTIONS = [
    pytest.param(
        {"uses": "jinaai+sandbox://jina-ai/Sentencizer"}, "hosted Executor Hub", id="jinaai-sandbox"
    ),
    pytest.param({"uses": "jinahub+docker://Sentencizer"}, "devkit hub push", id="jinahub-docker"),
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


def test_jina_tracing_and_metrics_setup_builds():
    options = {
        "tracing": True,
        "traces_exporter_host": "http://localhost",
        "traces_exporter_port": 4317,
        "metrics": True,
        "metrics_exporter_host": "http://localhost",
        "metrics_exporter_port": 4317,
        "monitoring": True,
        "port_monitoring": 9090,
    }
    Flow(**options).add(name="enc", **options)
    Deployment(name="enc", **options)


def test_flow_yaml_with_an_unsupported_option_fails_on_loading(tmp_path):
    path = tmp_path / "flow.yml"
    path.write_text("jtype: Flow\nexecutors:\n  - name: enc\n    uses: jinahub://Sentencizer\n")
    with pytest.raises(NotSupportedYetError, match=r"enc.*jinahub://"):
        Flow.load_config(path)


def test_supported_options_still_build():
    Flow(tracing=False, monitoring=False).add(uses=Passthrough, name="p")
    Deployment(uses=Passthrough, metrics=False)
    Deployment(uses=Passthrough, reload=True)
    Flow(reload=True).add(uses=Passthrough, reload=True)
    # an endpoint the Executor serves: a table naming others is refused when built (test_dynamic_batching)
    Deployment(uses=Batchable, uses_dynamic_batching={"/": {"preferred_batch_size": 4}})
