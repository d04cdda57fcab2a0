"""``Client(show_progress=True)`` draws a progress bar on stderr while it posts; off by default."""

import threading

import pytest
from docarray import DocList
from docarray.documents import TextDoc

from devkit import Client, Deployment, Executor, requests


class Upper(Executor):
    @requests
    def upper(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper()


@pytest.fixture(scope="module")
def port():
    with Deployment(uses=Upper, quiet=True) as dep:
        yield dep.port


def docs(n: int) -> DocList[TextDoc]:
    return DocList[TextDoc]([TextDoc(text=f"doc {i}") for i in range(n)])


def refresh_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if type(t).__name__ == "_RefreshThread"]


def test_show_progress_draws_a_bar_counting_requests_and_documents(port, capsys):
    with Client(port=port, show_progress=True) as client:
        result = client.post("/", docs(10), request_size=2, return_type=DocList[TextDoc])
    assert [doc.text for doc in result] == [f"DOC {i}" for i in range(10)]
    err = capsys.readouterr().err
    assert "Posting to /" in err
    assert "5/5 requests, 10 docs" in err
    assert refresh_threads() == []  # the bar's refresh thread stopped with the post


def test_a_generator_of_unknown_length_still_counts(port, capsys):
    with Client(port=port) as client:
        client.post("/", (TextDoc(text="x") for _ in range(6)), request_size=4, show_progress=True)
    assert "2/? requests, 6 docs" in capsys.readouterr().err


def test_no_bar_by_default(port, capsys):
    with Client(port=port) as client:
        client.post("/", docs(10), request_size=2)
        client.post("/", docs(1))
    assert capsys.readouterr().err == ""


def test_post_can_turn_off_the_clients_bar(port, capsys):
    with Client(port=port, show_progress=True) as client:
        client.post("/", docs(4), request_size=2, show_progress=False)
    assert capsys.readouterr().err == ""
