"""Observability options as jina's docs spell them: ``tracing_exporter_host/port`` (the Flow YAML
example's spelling) next to ``traces_exporter_host/port``, and every option surviving
``save_config`` then ``load_config``."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest
import yaml
from docarray import DocList
from docarray.documents import TextDoc
from pydantic import ValidationError

from devkit import Deployment, Executor, Flow, requests
from devkit.errors import ConfigError
from devkit.testing.metrics import scrape
from devkit.testing.ports import free_port
from devkit.testing.spans import OtlpReceiver, Spans

HOP = "/jina.JinaSingleDataRequestRPC/process_single_data"


class Shout(Executor):
    @requests(on="/index")
    def index(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper()
        return docs


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spans]:
    """A trace receiver only the exporter options point at: the standard OpenTelemetry
    variables are cleared, so spans arrive only if the options were honoured."""
    for variable in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "10")
    server = OtlpReceiver().start()
    try:
        yield server.spans
    finally:
        server.stop()


def hello() -> DocList[TextDoc]:
    return DocList[TextDoc]([TextDoc(text="hi")])


def test_flow_yaml_with_tracing_exporter_keys_sends_every_span_there(tmp_path, receiver):
    path = tmp_path / "flow.yml"
    path.write_text(
        textwrap.dedent(
            f"""\
            jtype: Flow
            with:
              tracing: true
              tracing_exporter_host: http://127.0.0.1
              tracing_exporter_port: {receiver.port}
            executors:
              - name: shout
                uses: {Shout.__module__}.Shout
            """
        )
    )
    flow = Flow.load_config(path)
    (shout,) = flow.spec.executors
    for telemetry in (flow.spec.gateway.telemetry, shout.deployment.telemetry):
        assert (telemetry.traces_exporter_host, telemetry.traces_exporter_port) == (
            "http://127.0.0.1",
            receiver.port,
        )
    with flow:
        assert flow.post("/index", hello(), return_type=DocList[TextDoc]).text == ["HI"]
    receiver.wait_for_named("/index")  # the Executor's span: the options reached its Pod too
    receiver.wait_for(lambda s: any(span.name == HOP for span in s))
    assert {span.service for span in receiver} >= {"Flow/gateway", "shout/rep-0"}


def test_deployment_takes_the_tracing_exporter_spelling_as_keywords(receiver):
    with Deployment(
        uses=Shout,
        name="shout",
        tracing=True,
        tracing_exporter_host="http://127.0.0.1",
        tracing_exporter_port=receiver.port,
    ) as dep:
        dep.post("/index", hello())
    (span,) = receiver.wait_for_named("/index")
    assert span.service == "shout/rep-0"


def test_both_spellings_build_the_same_spec():
    alias = Flow(tracing=True, tracing_exporter_host="http://h", tracing_exporter_port=4317).add(
        uses=Shout, tracing_exporter_port=4318
    )
    canonical = Flow(tracing=True, traces_exporter_host="http://h", traces_exporter_port=4317).add(
        uses=Shout, traces_exporter_port=4318
    )
    assert alias.spec == canonical.spec
    assert alias.spec.executors[0].deployment.telemetry.traces_exporter_port == 4318
    same = Deployment(uses=Shout, traces_exporter_host="http://h", tracing_exporter_host="http://h")
    assert same.spec.telemetry.traces_exporter_host == "http://h"


def test_both_spellings_with_different_values_are_refused():
    with pytest.raises(ValidationError, match="tracing_exporter_port=1 and traces_exporter_port=2"):
        Deployment(uses=Shout, tracing_exporter_port=1, traces_exporter_port=2)


def test_a_misspelt_exporter_key_is_still_reported_with_file_and_line(tmp_path):
    path = tmp_path / "flow.yml"
    path.write_text("jtype: Flow\nwith:\n  tracing: true\n  trace_exporter_host: localhost\n")
    with pytest.raises(
        ConfigError, match=r"unknown Flow 'with' key\(s\) 'trace_exporter_host' at .*flow.yml:4"
    ):
        Flow.load_config(path)


# -- save_config keeps every observability option --------------------------------------------


def test_flow_save_config_keeps_tracing_metrics_monitoring_and_log_config(tmp_path):
    log_config = tmp_path / "logging.yml"
    log_config.write_text("version: 1\n")
    gateway_port, worker_port = free_port(), free_port()
    flow = Flow(
        tracing=True,
        traces_exporter_host="http://127.0.0.1",
        traces_exporter_port=4317,
        metrics=True,
        metrics_exporter_host="http://127.0.0.1",
        metrics_exporter_port=4318,
        monitoring=True,
        port_monitoring=gateway_port,
        log_config=str(log_config),
    )
    flow.add(uses="Shout", name="shout", port_monitoring=worker_port, traces_exporter_port=5317)
    flow.add(uses="Shout", name="plain")
    saved = tmp_path / "flow.yml"
    flow.save_config(saved)
    loaded = Flow.load_config(saved)

    assert loaded.log_config == str(log_config)
    assert loaded.spec.gateway.telemetry == flow.spec.gateway.telemetry
    assert [e.deployment.telemetry for e in loaded.spec.executors] == [
        e.deployment.telemetry for e in flow.spec.executors
    ]
    executors = yaml.safe_load(saved.read_text())["executors"]
    assert "metrics" not in executors[1]  # inherited from the Flow, so written once in ``with``


@pytest.mark.timeout(60)
def test_deployment_reloaded_from_saved_yaml_still_traces_and_serves_its_metrics(tmp_path, receiver):
    port = free_port()
    log_config = tmp_path / "logging.yml"
    log_config.write_text("version: 1\n")
    source = Deployment(
        uses=Shout,
        name="shout",
        host="127.0.0.1",
        tracing=True,
        traces_exporter_host="http://127.0.0.1",
        traces_exporter_port=receiver.port,
        monitoring=True,
        port_monitoring=port,
        log_config=str(log_config),
    )
    saved = tmp_path / "deployment.yml"
    source.save_config(saved)
    loaded = Deployment.load_config(saved)
    assert loaded.spec.telemetry == source.spec.telemetry
    assert loaded.log_config == str(log_config)
    with loaded:
        loaded.post("/index", hello())
        page = scrape(port)
    assert page.value("jina_successful_requests_total", runtime_name="shout/rep-0") == 1
    (span,) = receiver.wait_for_named("/index")
    assert span.service == "shout/rep-0"
