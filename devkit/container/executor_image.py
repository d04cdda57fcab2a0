"""Executor images: an Executor folder (executor.py, config.yml, requirements.txt, optional
Dockerfile; page 43 of jina's docs) built into an image, cached by the hash of its content.

Images build ``FROM`` a runtime image: the base image plus this devkit's source in
``/opt/devkit`` (so an Executor image runs alone, with nothing mounted). A folder's
``requirements.txt`` is installed from a wheelhouse the host's pip downloads into the build
context, so the build needs neither the network nor a certificate. A folder without a
Dockerfile gets the scaffold's one. The tag is ``devkit-executor-<folder>:<content hash>``:
unchanged inputs are found by tag and not rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from devkit.container.base_image import image_exists

__all__ = ["build_executor_image", "build_runtime_image", "folder_hash"]

log = logging.getLogger("devkit.container")

_SKIP = {"__pycache__", ".pytest_cache", ".git", ".mypy_cache", ".ruff_cache"}

_RUNTIME_DOCKERFILE = """ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY devkit /opt/devkit/devkit
ENV PYTHONPATH=/opt/devkit
"""

_DEFAULT_DOCKERFILE = """ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY . /executor
WORKDIR /executor
ENTRYPOINT ["python", "-m", "devkit", "executor", "--uses", "config.yml", "--host", "0.0.0.0"]
"""

_REQUIREMENTS_STEP = """COPY .wheels /tmp/wheels
RUN pip install -q --no-index --find-links /tmp/wheels -r /tmp/wheels/requirements.txt && rm -rf /tmp/wheels
"""


def _files(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not _SKIP.intersection(path.relative_to(folder).parts)
    )


def folder_hash(folder: Path, *extra: str) -> str:
    """A hash of every file's path and bytes under ``folder`` (caches skipped), plus ``extra``."""
    digest = hashlib.sha256("\n".join(extra).encode())
    for path in _files(folder):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _docker_build(context: Path, tag: str, base: str) -> None:
    result = subprocess.run(
        [
            "docker",
            "build",
            "-q",
            "--network",
            "none",
            "--build-arg",
            f"BASE_IMAGE={base}",
            "-t",
            tag,
            str(context),
        ],
        capture_output=True,
        env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"},
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"building {tag} failed:\n{result.stderr.decode(errors='replace').strip()}")


def build_runtime_image(base: str, *, latest: bool = False) -> str:
    """``devkit-runtime:<hash>``: ``base`` plus this devkit's source; built if missing.

    With ``latest``, also tagged ``devkit-runtime:latest`` (the exporters' default image).
    """
    source = Path(__file__).resolve().parents[1]
    tag = f"devkit-runtime:{folder_hash(source, base)}"
    if not image_exists(tag):
        _build_runtime_image(source, tag, base)
    if latest:
        subprocess.run(["docker", "tag", tag, "devkit-runtime:latest"], check=True, capture_output=True)
    return tag


def _build_runtime_image(source: Path, tag: str, base: str) -> None:
    with tempfile.TemporaryDirectory(prefix="devkit-runtime-") as tmp:
        context = Path(tmp)
        shutil.copytree(source, context / "devkit", ignore=shutil.ignore_patterns(*_SKIP))
        (context / "Dockerfile").write_text(_RUNTIME_DOCKERFILE)
        _docker_build(context, tag, base)
    log.info("built %s", tag)


def build_executor_image(folder: str | Path, base: str) -> str:
    """Build the Executor in ``folder`` on ``base`` (through the runtime image); return the tag."""
    folder = Path(folder).resolve()
    if not (folder / "config.yml").exists():
        raise FileNotFoundError(
            f"{folder} has no config.yml: an Executor folder needs one (devkit new NAME makes one)"
        )
    runtime = build_runtime_image(base)
    name = re.sub(r"[^a-z0-9_.-]", "-", folder.name.lower()).strip("-.") or "executor"
    tag = f"devkit-executor-{name}:{folder_hash(folder, runtime)}"
    if image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="devkit-executor-") as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(folder, context, ignore=shutil.ignore_patterns(*_SKIP))
        dockerfile = context / "Dockerfile"
        text = dockerfile.read_text() if dockerfile.exists() else _DEFAULT_DOCKERFILE
        requirements = context / "requirements.txt"
        if requirements.exists() and _requirements(requirements):
            wheels = context / ".wheels"
            wheels.mkdir()
            shutil.copy(requirements, wheels / "requirements.txt")
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "-d", str(wheels), "-r", str(requirements)],
                check=True,
            )
            text = _after_from(text, _REQUIREMENTS_STEP)
        dockerfile.write_text(text)
        _docker_build(context, tag, runtime)
    log.info("built %s", tag)
    return tag


def _requirements(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _after_from(dockerfile: str, step: str) -> str:
    """``dockerfile`` with ``step`` inserted after its (last) FROM line."""
    lines = io.StringIO(dockerfile).read().splitlines()
    last = max(index for index, line in enumerate(lines) if line.strip().upper().startswith("FROM"))
    return "\n".join([*lines[: last + 1], *step.splitlines(), *lines[last + 1 :]]) + "\n"
