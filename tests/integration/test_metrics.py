"""Metrics with jina's names: Prometheus ``/metrics`` scraped over HTTP on each gateway and
worker, and OTLP export to a real OTLP/gRPC receiver on a short interval."""

from __future__ import annotations

import socket

import pytest
from docarray import DocList
from docarray.documents import TextDoc

from devkit import Deployment, Executor, Flow, monitor, requests
from devkit.testing.metrics import scrape
from devkit.testing.ports import free_port


def _free_ports(count: int) -> list[int]:
    return [free_port() for _ in range(count)]


class Upper(Executor):
    @requests(on="/index")
    def index(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        with self.monitor("preprocessing_seconds", "Time preprocessing the requests"):
            self.clean(docs)
        for doc in docs:
            doc.text = doc.text.upper()
        return docs

    @monitor()
    def clean(self, docs):
        for doc in docs:
            doc.text = doc.text.strip()

    @requests(on="/fail")
    def fail(self, docs: DocList[TextDoc], **kwargs) -> None:
        raise ValueError("bad input")


def three_docs():
    return DocList[TextDoc]([TextDoc(text=t) for t in ("a", "b", "c")])


def test_prometheus_metrics_on_the_gateway_and_the_worker(metrics):
    gateway_port, worker_port = _free_ports(2)
    flow = Flow(monitoring=True, port_monitoring=gateway_port, host="127.0.0.1").add(
        uses=Upper, name="upper", port_monitoring=worker_port
    )
    with flow:
        flow.post("/index", three_docs())
        flow.post("/index", three_docs())
        with pytest.raises(Exception, match="bad input"):
            flow.post("/fail", three_docs())
        gateway, worker = metrics.scrape(gateway_port), scrape(worker_port)

    assert gateway.value("jina_receiving_request_seconds_count", runtime_name="Flow/gateway") == 3
    assert gateway.value("jina_sending_request_seconds_count") == 3
    assert gateway.value("jina_successful_requests_total") == 2
    assert gateway.value("jina_failed_requests_total") == 1
    assert gateway.value("jina_number_of_pending_requests") == 0
    assert gateway.value("jina_received_request_bytes_sum") > 0
    assert gateway.value("jina_sent_request_bytes_count") == 3

    assert worker.value("jina_receiving_request_seconds_count", runtime_name="upper/rep-0") == 3
    labels = {"executor": "upper", "executor_endpoint": "/index"}
    assert worker.value("jina_process_request_seconds_count", **labels) == 2
    assert worker.value("jina_document_processed_total", **labels) == 6
    assert worker.value("jina_successful_requests_total") == 2
    assert worker.value("jina_failed_requests_total") == 1
    assert worker.value("jina_preprocessing_seconds_count") == 2  # self.monitor(...)
    assert worker.value("jina_clean_seconds_count") == 2  # @monitor()

    for page in (gateway, worker):
        assert not page.duplicates()
        assert not [name for name in page.names() if name.endswith("_created")]  # deprecated noise


def test_metrics_reach_an_otlp_receiver_on_the_export_interval(metrics):
    with Deployment(uses=Upper, name="upper", metrics=True) as dep:
        dep.post("/index", three_docs())
        metrics.wait_for(lambda m: m.value("jina_document_processed") == 3)
    assert metrics.value("jina_process_request_seconds", "count", executor_endpoint="/index") == 1
    assert metrics.value("jina_receiving_request_seconds", "count", service="upper/rep-0") == 1
    assert metrics.value("jina_successful_requests") == 1
    assert metrics.value("jina_clean_seconds", "count") == 1
    assert "jina_successful_requests_total" not in metrics.names()  # OTel names have no _total


def test_monitoring_off_serves_nothing_and_records_nothing():
    with Deployment(uses=Upper, name="upper") as dep:
        dep.post("/index", three_docs())
    assert Upper().metrics is None
    with Upper().monitor("x_seconds"):  # a no-op when not measured
        pass


def test_port_monitoring_in_use_is_named():
    from devkit.errors import PortInUseError, RuntimeFailToStart

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises((PortInUseError, RuntimeFailToStart), match=f"/metrics on 127.0.0.1:{port}"):
            Deployment(
                uses=Upper, name="upper", host="127.0.0.1", monitoring=True, port_monitoring=port
            ).start()


class Counting(Executor):
    """Instruments of its own, created in ``__init__`` as jina's docs show."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = self.meter.create_counter("my_documents_seen", description="documents seen")
        self.sizes = self.meter.create_histogram("my_text_length", unit="By")

    @requests(on="/index")
    def index(self, docs: DocList[TextDoc], **kwargs) -> None:
        self.seen.add(len(docs), {"endpoint": "/index"})
        for doc in docs:
            self.sizes.record(len(doc.text))


@pytest.mark.process
@pytest.mark.parametrize("runtime", ["thread", "process"])
def test_an_executors_own_instruments_reach_the_otlp_receiver(metrics, runtime):
    with Deployment(uses=Counting, name="counting", metrics=True, runtime=runtime) as dep:
        dep.post("/index", three_docs())
        dep.post("/index", DocList[TextDoc]([TextDoc(text="four")]))
        metrics.wait_for(lambda m: m.value("my_documents_seen") == 4)
        metrics.wait_for(lambda m: m.value("my_text_length", "count") == 4)
    assert metrics.value("my_documents_seen", service="counting/rep-0", endpoint="/index") == 4
    assert metrics.value("my_text_length", "sum") == 3 + 4


def test_without_metrics_the_meter_is_a_no_op_not_none():
    from devkit.observability import NOOP_METER

    assert Counting().meter is NOOP_METER
    with Deployment(uses=Counting, name="counting", monitoring=True) as dep:  # Prometheus only
        docs = dep.post("/index", three_docs(), return_type=DocList[TextDoc])
    assert docs.text == ["a", "b", "c"]  # the no-op instruments took the values without a fuss
