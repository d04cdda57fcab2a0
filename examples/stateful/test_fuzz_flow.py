"""Stateful fuzzing of a two-Executor Flow: green as written, and a planted bug is reported
as the shortest failing sequence, printed as a test to paste (see README, "Stateful fuzzing")."""

import pytest
from docarray import BaseDoc, DocList
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from devkit import Executor, Flow, requests
from devkit.testing.stateful import DEFAULT_SETTINGS, flow_state_machine


class Note(BaseDoc):
    text: str = ""
    words: int = 0


class Count(Executor):
    @requests(on="/index")
    def index(self, docs: DocList[Note], **kwargs) -> DocList[Note]:
        for doc in docs:
            doc.words = len(doc.text.split())
        return docs


class Store(Executor):
    @requests(on="/index")
    def index(self, docs: DocList[Note], **kwargs) -> DocList[Note]:
        return docs


def make_flow():
    return Flow().add(uses=Count, name="count", replicas=2).add(uses=Store, name="store")


# posts, partitions, connection resets, latency, replica kills and restarts; every step checked
TestNotesFlow = flow_state_machine(
    make_flow, endpoints=["/index"], settings=settings(max_examples=5, stateful_step_count=6, deadline=None)
).TestCase


class LossyStore(Executor):
    """A planted bug: a batch of exactly three documents loses its last one."""

    @requests(on="/index")
    def index(self, docs: DocList[Note], **kwargs) -> DocList[Note]:
        return DocList[Note](list(docs)[:2]) if len(docs) == 3 else docs


def make_lossy_flow():
    return Flow().add(uses=Count, name="count", replicas=2).add(uses=LossyStore, name="store")


@pytest.mark.timeout(180)
def test_the_planted_bug_is_found_and_printed_as_a_test():
    machine = flow_state_machine(make_lossy_flow, endpoints=["/index"])
    with pytest.raises(AssertionError, match="lost d2") as failure:
        run_state_machine_as_test(
            machine,
            settings=settings(
                DEFAULT_SETTINGS, max_examples=100, stateful_step_count=8, database=None, derandomize=True
            ),
        )
    print("\n".join(failure.value.__notes__))  # what pytest shows when such a test fails
    (reproduction,) = [note for note in failure.value.__notes__ if note.startswith("# devkit:")]
    assert reproduction.splitlines()[-2:] == [
        "    with FlowDriver(make_lossy_flow, endpoints=['/index']) as driver:",
        "        driver.post('/index', [Note(), Note(), Note()])",
    ]
