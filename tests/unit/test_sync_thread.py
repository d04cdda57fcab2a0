"""The private thread of sync Executor methods, and when a proven-quick method skips it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from devkit.serve import sync_thread
from devkit.serve.sync_thread import PROBATION, SyncThread

#: Thresholds for these tests, far above any scheduling hiccup (a loaded machine can stall a
#: trivial call for milliseconds): whether a call counts as quick must not depend on the machine.
LENIENT = 0.2


@pytest.fixture(autouse=True)
def lenient_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync_thread, "INLINE_BELOW", LENIENT)
    monkeypatch.setattr(sync_thread, "DEMOTE_ABOVE", LENIENT)


def where() -> str:
    return threading.current_thread().name


async def names(pool: SyncThread, fn, count: int, key: str = "m") -> list[str]:
    return [await pool.run(fn, key=key) for _ in range(count)]


def test_a_quick_method_runs_inline_after_its_probation() -> None:
    pool = SyncThread("devkit-test")

    async def main() -> list[str]:
        return await names(pool, where, PROBATION + 3)

    seen = asyncio.run(main())
    pool.shutdown()
    assert seen[:PROBATION] == ["devkit-test"] * PROBATION
    assert seen[PROBATION:] == ["MainThread"] * 3


def test_a_slow_inline_call_sends_the_method_back_to_the_thread_for_good() -> None:
    pool = SyncThread("devkit-test")
    slow = {"now": False}

    def maybe_slow() -> str:
        if slow["now"]:
            time.sleep(sync_thread.DEMOTE_ABOVE * 2)
        return where()

    async def main() -> tuple[list[str], list[str]]:
        before = await names(pool, maybe_slow, PROBATION + 1)
        slow["now"] = True
        after = await names(pool, maybe_slow, 2)
        return before, after

    before, after = asyncio.run(main())
    pool.shutdown()
    assert before[-1] == "MainThread"
    assert after == ["MainThread", "devkit-test"]  # the slow inline call was the last one


def test_calls_never_overlap_or_reorder_while_the_thread_is_busy() -> None:
    pool = SyncThread("devkit-test")
    order: list[int] = []

    def record(i: int):
        return lambda: order.append(i) or where()

    release = threading.Event()

    async def main() -> list[str]:
        await names(pool, where, PROBATION)  # "m" is now inline
        blocker = pool.run(lambda: release.wait(10), key="slow")  # occupies the thread
        queued = [pool.run(record(i), key="m") for i in range(3)]  # must wait behind it, in order
        release.set()
        await blocker
        return list(await asyncio.gather(*queued))

    threads = asyncio.run(main())
    pool.shutdown()
    assert order == [0, 1, 2]
    assert threads == ["devkit-test"] * 3


def test_unkeyed_calls_always_use_the_thread() -> None:
    pool = SyncThread("devkit-test")

    async def main() -> list[str]:
        return [await pool.run(where) for _ in range(PROBATION + 2)]

    seen = asyncio.run(main())
    pool.shutdown()
    assert set(seen) == {"devkit-test"}


def test_queued_calls_nobody_waits_for_are_skipped() -> None:
    pool = SyncThread("devkit-test")
    release = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        blocker = pool.run(lambda: release.wait(10))  # occupies the thread
        expired = pool.run(lambda: ran.append("expired"), deadline=time.monotonic() - 1.0)
        cancelled = pool.run(lambda: ran.append("cancelled"))
        kept = pool.run(lambda: ran.append("kept"))
        cancelled.cancel()  # what grpc does to the handler when the client gives up
        release.set()
        await blocker
        await kept
        with pytest.raises(TimeoutError, match="deadline passed before its turn"):
            await expired

    asyncio.run(main())
    pool.shutdown()
    assert ran == ["kept"]
    assert pool.skipped == 2
