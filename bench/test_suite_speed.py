"""What the thread runtime buys in tests: the same 20 Flow tests, timed per runtime.

    python bench/test_suite_speed.py [--jina-python PATH]

Generates 20 small Flow tests (two or three Executors, a few posts each) into a temporary
folder and runs them with pytest once per runtime (``--devkit-runtime=thread|process``),
single-process, printing the wall time of each run. With ``--jina-python`` (the Python of
an environment that has jina 3.34 installed) the equivalent jina tests are timed as well.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

EXECUTORS = """
from docarray import BaseDoc, DocList
from {package} import Executor, requests


class TextDoc(BaseDoc):
    text: str = ''


class Upper(Executor):
    @requests
    def upper(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = doc.text.upper()


class Exclaim(Executor):
    @requests
    async def exclaim(self, docs: DocList[TextDoc], **kwargs) -> DocList[TextDoc]:
        for doc in docs:
            doc.text += '!'
"""

DEVKIT_TEST = """
import pytest
from docarray import DocList
from executors import Exclaim, TextDoc, Upper


@pytest.mark.devkit_runtimes('thread', 'process')
@pytest.mark.parametrize('n', range({count}))
def test_flow(flow_factory, devkit_runtime, n):
    flow = flow_factory().add(uses=Upper).add(uses=Exclaim)
    if n % 2:
        flow.add(uses=Exclaim)
    with flow:
        for i in range(3):
            docs = flow.post('/', [TextDoc(text=f'a{{i}}')] * 5, return_type=DocList[TextDoc])
            assert docs.text[0].startswith(f'A{{i}}!')
"""

JINA_TEST = """
import pytest
from docarray import DocList
from jina import Flow
from executors import Exclaim, TextDoc, Upper


@pytest.mark.parametrize('n', range({count}))
def test_flow(n):
    flow = Flow().add(uses=Upper).add(uses=Exclaim)
    if n % 2:
        flow.add(uses=Exclaim)
    with flow:
        for i in range(3):
            docs = flow.post('/', [TextDoc(text=f'a{{i}}')] * 5, return_type=DocList[TextDoc])
            assert docs.text[0].startswith(f'A{{i}}!')
"""


def run_suite(python: str, folder: Path, extra: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *extra],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    elapsed = time.perf_counter() - started
    summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
    if result.returncode != 0:
        raise SystemExit(f"suite failed in {folder}:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return elapsed, summary


def _with_pytest(python: str) -> str:
    """The jina environment's Python as an absolute path, with pytest installed in it."""
    python = os.path.abspath(python) if os.sep in python else (shutil.which(python) or python)
    if subprocess.run([python, "-c", "import pytest"], capture_output=True).returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "--quiet", "pytest"], check=True)
    return python


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=20, help="number of Flow tests (default 20)")
    parser.add_argument("--jina-python", help="a Python with jina 3.34 installed, to time the same tests")
    args = parser.parse_args()

    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "devkit_suite")
        folder.mkdir()
        (folder / "executors.py").write_text(EXECUTORS.format(package="devkit"))
        (folder / "test_flows.py").write_text(textwrap.dedent(DEVKIT_TEST.format(count=args.count)))
        for runtime in ("thread", "process"):
            elapsed, summary = run_suite(sys.executable, folder, [f"--devkit-runtime={runtime}"])
            rows.append((f"devkit {runtime}", elapsed, summary))
        if args.jina_python:
            jina_python = _with_pytest(args.jina_python)
            jina_folder = Path(tmp, "jina_suite")
            jina_folder.mkdir()
            (jina_folder / "executors.py").write_text(EXECUTORS.format(package="jina"))
            (jina_folder / "test_flows.py").write_text(textwrap.dedent(JINA_TEST.format(count=args.count)))
            elapsed, summary = run_suite(jina_python, jina_folder, [])
            rows.append(("jina 3.34", elapsed, summary))

    fastest = min(elapsed for _, elapsed, _ in rows)
    print(f"{args.count} Flow tests, one pytest process each run")
    print(f"{'suite':<16}{'wall s':>10}{'vs fastest':>12}  pytest summary")
    for name, elapsed, summary in rows:
        print(f"{name:<16}{elapsed:>10.2f}{elapsed / fastest:>11.1f}x  {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
