"""Reliability figures: requests lost or duplicated under load, latency around a killed replica.

    python bench/reliability.py            # about a minute
    python bench/reliability.py --quick    # fewer requests

1. Load: ``--docs`` one-document requests, at most 64 in flight, through a Flow of three
   Executors (thread and process runtimes). Every document must come back exactly once,
   stamped once by each Executor; lost, duplicated and wrongly stamped ones are counted.
   On the process runtime the middle Executor has two replicas and one is killed
   (SIGKILL) a third of the way in.
2. Latency: a Flow with one Executor of two process replicas; p50 of sequential
   one-document requests before killing replica 0, right after, and once it is back.

Loopback only; every loop is bounded. Absolute figures depend on the machine and its
load; compare the phases of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import threading
import time
from collections import Counter
from typing import Any

os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

from docarray import BaseDoc, DocList

from devkit import Executor, Flow, requests


class TextDoc(BaseDoc):
    text: str = ""


class Stamp(Executor):
    """Appends ``|<its name>``: a document processed twice on one path would show it twice."""

    @requests
    def stamp(self, docs: DocList[TextDoc], **kwargs: Any) -> None:
        for doc in docs:
            doc.text += "|" + self.runtime_args.name


def _three_executors(runtime: str) -> Flow:
    return (
        Flow(quiet=True, runtime=runtime)
        .add(uses=Stamp, name="a")
        .add(uses=Stamp, name="b", replicas=2 if runtime == "process" else 1)
        .add(uses=Stamp, name="c")
    )


def load(runtime: str, count: int, concurrency: int = 64) -> dict[str, Any]:
    """Lost, duplicated and mis-stamped documents for ``count`` one-document requests."""
    sent = DocList[TextDoc]([TextDoc(id=f"d{i}", text=f"d{i}") for i in range(count)])
    kill = runtime == "process"
    seen: Counter[str] = Counter()
    wrong = errors = 0
    lock = threading.Lock()
    killed = threading.Event()
    with _three_executors(runtime) as flow:
        victim = flow.pids.get("b/rep-0") if kill else None

        def on_done(response: Any) -> None:
            nonlocal wrong
            with lock:
                for doc in response.docs:
                    seen[doc.id] += 1
                    wrong += doc.text != f"{doc.id}|a|b|c"
                if kill and not killed.is_set() and sum(seen.values()) >= count // 3:
                    killed.set()
                    os.kill(victim, signal.SIGKILL)  # type: ignore[arg-type]

        def on_error(response: Any) -> None:
            nonlocal errors
            with lock:
                errors += 1

        started = time.perf_counter()
        flow.post("/", sent, request_size=1, prefetch=concurrency, on_done=on_done, on_error=on_error)
        took = time.perf_counter() - started
    lost = sum(1 for doc in sent if seen[doc.id] == 0)
    duplicated = sum(n - 1 for n in seen.values() if n > 1)
    return {
        "runtime": runtime,
        "requests": count,
        "concurrency": concurrency,
        "killed_a_replica": kill,
        "lost": lost,
        "duplicated": duplicated,
        "wrongly_stamped": wrong,
        "errors": errors,
        "seconds": round(took, 2),
    }


def _p50_ms(flow: Flow, count: int) -> float:
    one = DocList[TextDoc]([TextDoc()])
    took = []
    for _ in range(count):
        started = time.perf_counter()
        flow.post("/", one)
        took.append(time.perf_counter() - started)
    return round(statistics.median(took) * 1000, 2)


def kill_latency(count: int, back_within: float = 15.0) -> dict[str, Any]:
    """p50 before killing one of two process replicas, right after, and after its restart."""
    flow = Flow(quiet=True, runtime="process").add(uses=Stamp, name="e", replicas=2)
    with flow:
        _p50_ms(flow, 20)  # connect and warm up
        before = _p50_ms(flow, count)
        victim = flow.pids["e/rep-0"]
        os.kill(victim, signal.SIGKILL)
        after = _p50_ms(flow, count)
        deadline = time.monotonic() + back_within
        while flow.pids.get("e/rep-0") == victim and time.monotonic() < deadline:
            _p50_ms(flow, 10)  # keep the traffic going while the supervisor restarts it
        restarted = flow.pids.get("e/rep-0") != victim
        back = _p50_ms(flow, count) if restarted else None
    return {
        "p50_ms_before_kill": before,
        "p50_ms_after_kill": after,
        "restarted": restarted,
        "p50_ms_after_restart": back,
        "requests_per_phase": count,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests (about 15 s)")
    parser.add_argument("--docs", type=int, help="requests per load run (default 5000, quick 1000)")
    parser.add_argument("--latency-requests", type=int, help="requests per latency phase (default 400)")
    args = parser.parse_args(argv)
    docs = args.docs or (1000 if args.quick else 5000)
    per_phase = args.latency_requests or (100 if args.quick else 400)
    results = {
        "load": [load("thread", docs), load("process", docs)],
        "kill_one_of_two_replicas": kill_latency(per_phase),
    }
    print(json.dumps(results, indent=2))
    failed = any(r["lost"] or r["duplicated"] or r["wrongly_stamped"] or r["errors"] for r in results["load"])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
