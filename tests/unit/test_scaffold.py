"""``devkit new NAME`` makes an Executor folder that passes its own test."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devkit.cli import main


@pytest.mark.slow
@pytest.mark.process
def test_a_new_executor_folder_passes_its_own_test(tmp_path, capsys):
    folder = tmp_path / "upper"
    assert main(["new", "UpperCase", "--path", str(folder)]) == 0
    assert f"created {folder}" in capsys.readouterr().out
    assert sorted(path.name for path in folder.iterdir()) == [
        "Dockerfile",
        "config.yml",
        "executor.py",
        "requirements.txt",
        "test_upper_case.py",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_new_refuses_a_name_that_is_not_a_class_name(tmp_path, capsys):
    assert main(["new", "my-executor", "--path", str(tmp_path / "x")]) == 1
    assert "must be a Python class name such as MyExecutor" in capsys.readouterr().err


def test_new_refuses_to_overwrite_a_folder(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["new", "Upper", "--path", str(tmp_path)]) == 1
    assert "already exists and is not empty" in capsys.readouterr().err
