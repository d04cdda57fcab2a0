"""When the jina environment cannot be built: a local run skips, a CI run fails, both say why.

Runs in the default suite (no jina needed): a fake environment whose ``python`` exits 1
makes building it fail at once, offline.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent


@pytest.fixture
def broken_jina_env(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("conftest.py", "jina_env.py"):
        shutil.copy(HERE / name, pytester.path / name)
    python = pytester.path / "broken-env" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\necho 'no jina wheels for this platform' >&2\nexit 1\n")
    python.chmod(0o755)
    monkeypatch.setenv("DEVKIT_JINA_ENV", str(python.parents[1]))
    pytester.makepyfile(test_compat="def test_talks_to_jina(jina_python):\n    pass\n")
    return pytester


def test_a_local_run_skips_with_the_reason(broken_jina_env: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    result = broken_jina_env.runpytest_subprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*jina 3.34.0 environment unavailable: pip install jina==3.34.0 failed*"])


@pytest.mark.parametrize("value", ["true", "1"])
def test_a_ci_run_fails_with_the_reason(broken_jina_env: pytest.Pytester, monkeypatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    result = broken_jina_env.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*jina 3.34.0 environment unavailable: pip install jina==3.34.0 failed:*",
            "*no jina wheels for this platform*",
            "*CI is set, so this fails instead of skipping*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
