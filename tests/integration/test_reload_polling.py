"""Hot reload still works where the OS refuses file notifications (the per-user inotify
limit is reached on a busy machine): the watcher falls back to polling and says so once."""

import importlib
import logging
import os
import sys
import threading
import time

import pytest
import watchfiles
from docarray import DocList
from docarray.documents import TextDoc

from devkit import Client, Deployment

SOURCE = """
from docarray import DocList
from docarray.documents import TextDoc
from devkit import Executor, requests


class PolledExecutor(Executor):
    @requests
    def foo(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = {text!r}
"""


@pytest.fixture
def notifications_refused(monkeypatch):
    """``watchfiles.watch`` fails as it does when no inotify instance is left (a real limit
    cannot be set per test: it is machine-wide), unless polling is asked for."""
    real_watch = watchfiles.watch

    def watch(*paths, force_polling=None, **kwargs):
        if not force_polling:
            raise RuntimeError("Error creating recommended watcher: Too many open files (os error 24)")
        return real_watch(*paths, force_polling=force_polling, **kwargs)

    monkeypatch.setattr(watchfiles, "watch", watch)


def test_reload_polls_when_notifications_are_refused(tmp_path, monkeypatch, notifications_refused, caplog):
    source = tmp_path / "polled_executor.py"
    source.write_text(SOURCE.format(text="first"))
    # Polling compares modification times in whole seconds: date the file an hour back, as a
    # source file written before the server started would be, so the edit is seen.
    os.utime(source, (time.time() - 3600, time.time() - 3600))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("polled_executor")
    caplog.set_level(logging.INFO, logger="devkit.executor")
    reloaded = threading.Event()
    on_reload = logging.Handler()
    on_reload.emit = lambda record: reloaded.set() if "reloaded" in record.getMessage() else None  # type: ignore[method-assign]
    logging.getLogger("devkit.executor").addHandler(on_reload)
    try:
        with Deployment(uses=module.PolledExecutor, reload=True, runtime="thread", quiet=True) as dep:
            client = Client(port=dep.port)

            def post() -> str:
                return client.post("/", DocList[TextDoc]([TextDoc()]), return_type=DocList[TextDoc])[0].text

            assert post() == "first"
            source.write_text(SOURCE.format(text="second"))
            assert reloaded.wait(30), [r.getMessage() for r in caplog.records]
            assert post() == "second"
    finally:
        sys.modules.pop("polled_executor", None)
        logging.getLogger("devkit.executor").removeHandler(on_reload)
    warnings = [r.getMessage() for r in caplog.records if "polling for changes instead" in r.getMessage()]
    assert len(warnings) == 1 and "Too many open files" in warnings[0]
