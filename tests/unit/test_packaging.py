"""What ``pip install devkit`` puts on a user's machine, read from a wheel built from this tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: What a wheel is built from; everything else (tests, caches, environments) stays behind.
#: Offline, with the setuptools of this environment.
PIP_WHEEL = (sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q")
SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "devkit", "plugins")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        path = ROOT / name
        if not path.exists():
            continue
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [*PIP_WHEEL, str(source), "-w", str(out)],
        check=True,
        capture_output=True,
        text=True,
        timeout=240,
    )
    (built,) = out.glob("devkit-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def _metadata(wheel: zipfile.ZipFile, name: str) -> str:
    (path,) = [n for n in wheel.namelist() if n.endswith(f".dist-info/{name}")]
    return wheel.read(path).decode()


def test_only_devkit_named_packages_are_installed(wheel: zipfile.ZipFile) -> None:
    top_level = {
        name.split("/")[0] for name in wheel.namelist() if not name.split("/")[0].endswith(".dist-info")
    }
    assert top_level == {"devkit", "devkit_plugins"}  # no top-level `plugins` to collide with
    assert "devkit_plugins/pytest_devkit.py" in wheel.namelist()


def test_the_pytest_plugin_loads_from_the_installed_name(wheel: zipfile.ZipFile) -> None:
    assert "devkit = devkit_plugins.pytest_devkit" in _metadata(wheel, "entry_points.txt")
    env = {**os.environ, "PYTHONPATH": wheel.filename or ""}  # a wheel of pure Python imports as a zip
    found = subprocess.run(
        [sys.executable, "-c", "import devkit_plugins.pytest_devkit as p; print(p.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert found.stdout.strip().startswith(str(wheel.filename))


def test_type_information_and_protos_ship(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert "devkit/py.typed" in names
    assert "devkit/proto/jina.proto" in names
    # every subpackage of the source tree is in the wheel
    packages = {path.parent.relative_to(ROOT).as_posix() for path in (ROOT / "devkit").rglob("*.py")}
    assert packages <= {name.rsplit("/", 1)[0] for name in names}


def test_the_testing_extra_brings_what_the_test_kit_imports(wheel: zipfile.ZipFile) -> None:
    metadata = Parser().parsestr(_metadata(wheel, "METADATA"))
    assert "testing" in metadata.get_all("Provides-Extra", [])
    testing = {
        requirement.split(";")[0].split(">")[0].strip()
        for requirement in metadata.get_all("Requires-Dist", [])
        if 'extra == "testing"' in requirement
    }
    assert {"pytest", "hypothesis"} <= testing
    base = {r.split(">")[0].strip() for r in metadata.get_all("Requires-Dist", []) if "extra ==" not in r}
    assert not base & {"pytest", "hypothesis"}  # serving needs neither
