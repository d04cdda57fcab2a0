"""``devkit gateway SPEC_JSON``: one gateway spec served by a command, its Executors given by
address, as exported manifests run it."""

from __future__ import annotations

import io
import signal
import subprocess
import sys

import pytest
from docarray import DocList
from docarray.documents import TextDoc

from devkit import Client, Deployment, Executor, requests
from devkit.client.ping import PingCommand, ping
from devkit.spec.models import GatewaySpec, NodeSpec, ProtocolPort

pytestmark = [pytest.mark.process, pytest.mark.slow]


class Upper(Executor):
    @requests
    def upper(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper()


def test_a_gateway_spec_served_by_the_command_reaches_its_executor_by_address(free_port):
    with Deployment(name="upper", uses=Upper, host="127.0.0.1") as executor:
        port = free_port
        spec = GatewaySpec(
            host="127.0.0.1",
            protocols=(ProtocolPort(protocol="grpc", port=port),),
            nodes=(NodeSpec(name="upper", shards=((f"127.0.0.1:{executor.port}",),), needs=("gateway",)),),
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "devkit", "gateway", spec.model_dump_json()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            command = PingCommand(
                "flow", f"127.0.0.1:{port}", 1.0, attempts=60, min_successful=1, interval=0.25
            )
            healthy = ping(command, out=io.StringIO())
            assert healthy, (
                process.stderr.read() if process.poll() is not None else "gateway never became healthy"
            )
            client = Client(host="127.0.0.1", port=port)
            docs = client.post(
                "/", inputs=DocList[TextDoc]([TextDoc(text="hey")]), return_type=DocList[TextDoc]
            )
            assert docs.text == ["HEY"]
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)
        assert process.returncode == 0
