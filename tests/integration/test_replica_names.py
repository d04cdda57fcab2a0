"""Each copy of an Executor knows its own name, as in jina: ``runtime_args.name`` is
``<executor>/rep-<r>`` (``<executor>/shard-<s>/rep-<r>`` when sharded), while ``metas.name``
stays the Executor's name."""

from __future__ import annotations

from docarray import BaseDoc, DocList

from devkit import Deployment, Executor, Flow, requests


class NameDoc(BaseDoc):
    text: str = ""


class WhoAmI(Executor):
    @requests
    def who(self, docs: DocList[NameDoc], **kwargs) -> DocList[NameDoc]:
        for doc in docs:
            doc.text = f"{self.metas.name} {self.runtime_args.name}"
        return docs


def _names(orchestrator, requests: int = 4) -> set[str]:
    return {
        text
        for _ in range(requests)
        for text in orchestrator.post("/", NameDoc(), return_type=DocList[NameDoc]).text
    }


def test_replicas_have_distinct_names(runtime):
    with Deployment(uses=WhoAmI, name="encoder", replicas=2, runtime=runtime, quiet=True) as dep:
        assert _names(dep) == {"encoder encoder/rep-0", "encoder encoder/rep-1"}


def test_a_single_copy_is_rep_0():
    with Deployment(uses=WhoAmI, quiet=True) as dep:
        assert _names(dep, 1) == {"executor executor/rep-0"}


def test_shards_are_named_in_the_replica_name():
    with Flow(quiet=True).add(uses=WhoAmI, name="indexer", shards=2) as flow:  # ANY: shards take turns
        assert _names(flow) == {"indexer indexer/shard-0/rep-0", "indexer indexer/shard-1/rep-0"}
