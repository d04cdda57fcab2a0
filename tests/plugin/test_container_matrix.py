"""The runtime matrix's ``container`` entry: marked, and skipped (or, under CI, failed) with the
reason when no Docker engine answers."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TEST = """
import pytest

@pytest.mark.devkit_runtimes('thread', 'container')
def test_runs(devkit_runtime):
    assert devkit_runtime in ('thread', 'container')
"""


@pytest.fixture
def no_engine(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{pytester.path}/no-docker.sock")
    pytester.makepyfile(test_matrix=TEST)
    return pytester


def test_without_an_engine_the_container_run_is_skipped_naming_why(no_engine, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    result = no_engine.runpytest_subprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*container runtime: no Docker engine*"])


def test_under_ci_a_missing_engine_fails_the_container_run(no_engine, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = no_engine.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*CI must run the container tests*"])


def test_container_runs_carry_the_container_marker(no_engine, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    result = no_engine.runpytest_subprocess("-m", "not container", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, deselected=1)
