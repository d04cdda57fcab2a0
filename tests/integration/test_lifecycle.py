"""Leaving `with` leaves nothing behind: no thread, no process, no listening port."""

import socket

import pytest
from docarray import BaseDoc, DocList

from devkit import Deployment, Executor, RuntimeFailToStart, requests


class TextDoc(BaseDoc):
    text: str = ""


class Hello(Executor):
    @requests
    def hello(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = "hello"


class Broken(Executor):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        raise RuntimeError("cannot load")


def nothing_listens_on(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("replicas", [1, 2], ids=["worker", "gateway"])
def test_with_block_leaves_nothing_running(runtime, replicas, no_leaks):
    with Deployment(uses=Hello, replicas=replicas, runtime=runtime, quiet=True) as dep:
        assert dep.post("/", TextDoc(), return_type=DocList[TextDoc]).text == ["hello"]
        port = dep.port
        assert dep.alive_servers
    assert dep.alive_servers == []
    assert nothing_listens_on(port)


def test_failed_start_leaves_nothing_running(runtime, no_leaks):
    dep = Deployment(uses=Broken, replicas=2, runtime=runtime, quiet=True)
    with pytest.raises(RuntimeFailToStart, match="cannot load"):
        dep.start()
    assert dep.alive_servers == []


def test_exception_inside_with_still_closes(no_leaks):
    with pytest.raises(KeyError), Deployment(uses=Hello, quiet=True) as dep:
        port = dep.port
        raise KeyError("user code failed")
    assert nothing_listens_on(port)


def test_same_port_can_be_reused_after_close(free_port, no_leaks):
    for _ in range(2):
        with Deployment(uses=Hello, port=free_port, quiet=True) as dep:
            assert dep.post("/", TextDoc(), return_type=DocList[TextDoc]).text == ["hello"]
