"""Create (or reuse) a separate virtual environment holding jina 3.34.0.

jina pins old grpc/opentelemetry/pydantic versions that cannot live next to
devkit's own dependencies, so it gets its own environment inside the repo, in
``.jina-env/`` (git-ignored). Creation is idempotent: an existing environment
is reused when ``import jina`` works in it and reports the expected version.

Run directly to build it::

    python3 tests/compat/jina_env.py          # build or reuse, print the python path
    python3 tests/compat/jina_env.py --check  # only check, exit 1 if unusable

From Python, :func:`ensure` returns the environment's interpreter or raises
:class:`JinaEnvUnavailable` with the reason.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

JINA_VERSION = "3.34.0"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ENV_DIR = REPO_ROOT / ".jina-env"

# `pip install jina==3.34.0` only resolves with these pins.
REQUIREMENTS = [
    f"jina=={JINA_VERSION}",
    "opentelemetry-api==1.26.0",
    "opentelemetry-sdk==1.26.0",
    "opentelemetry-exporter-otlp==1.26.0",
    "opentelemetry-exporter-otlp-proto-grpc==1.26.0",
    "opentelemetry-exporter-prometheus==0.47b0",
    "opentelemetry-instrumentation-grpc==0.47b0",
    "opentelemetry-instrumentation-aiohttp-client==0.47b0",
    "opentelemetry-instrumentation-fastapi==0.47b0",
    # jina's HTTP gateway breaks with newer pydantic / fastapi.
    "pydantic==2.10.6",
    "fastapi==0.115.6",
]

_MARKER = ".devkit-jina-env-ok"


class JinaEnvUnavailable(RuntimeError):
    """The jina environment could not be built or does not work."""


def env_dir() -> Path:
    return Path(os.environ.get("DEVKIT_JINA_ENV", DEFAULT_ENV_DIR))


def python_of(path: Path) -> Path:
    if os.name == "nt":
        return path / "Scripts" / "python.exe"
    return path / "bin" / "python"


def clean_env() -> dict[str, str]:
    """The environment for jina's processes: ours, less anything naming another Python."""
    env = dict(os.environ)
    # Never leak the caller's virtualenv / PYTHONPATH into the jina one.
    for key in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "__PYVENV_LAUNCHER__"):
        env.pop(key, None)
    env["JINA_OPTOUT_TELEMETRY"] = "1"  # jina would otherwise report usage over the network
    return env


def looks_ready(path: Path | None = None) -> bool:
    """Cheap test (no import of jina): was the environment completed before?"""
    path = path or env_dir()
    return (path / _MARKER).exists() and python_of(path).exists()


def check(path: Path | None = None, timeout: float = 120.0) -> str | None:
    """Return None when the environment works, else the reason it does not."""
    path = path or env_dir()
    py = python_of(path)
    if not py.exists():
        return f"no interpreter at {py}"
    try:
        out = subprocess.run(
            [str(py), "-c", "import jina, sys; sys.stdout.write(jina.__version__)"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=clean_env(),
        )
    except subprocess.TimeoutExpired:
        return "importing jina timed out"
    if out.returncode != 0:
        return "importing jina failed: " + (out.stderr.strip().splitlines() or ["?"])[-1]
    if out.stdout.strip() != JINA_VERSION:
        return f"found jina {out.stdout.strip()!r}, want {JINA_VERSION}"
    return None


def ensure(path: Path | None = None, *, log=print, pip_timeout: float = 1500.0) -> Path:
    """Build the environment unless a working one is there; return its python.

    Safe to call from several processes at once (pytest-xdist workers): they take turns
    on a lock file, and the ones after the builder find the environment ready.
    """
    path = path or env_dir()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _ensure_locked(path, log, pip_timeout)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ensure_locked(path: Path, log, pip_timeout: float) -> Path:
    py = python_of(path)
    if check(path) is None:  # reuse a working environment
        (path / _MARKER).write_text(JINA_VERSION + "\n")
        return py

    started = time.monotonic()
    log(f"building the jina {JINA_VERSION} environment in {path} (takes a few minutes)")
    try:
        if not py.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(path)
        cmd = [str(py), "-m", "pip", "install", "--quiet", *REQUIREMENTS]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=pip_timeout, env=clean_env())
    except subprocess.TimeoutExpired as exc:
        raise JinaEnvUnavailable(f"pip install timed out after {pip_timeout:.0f} s") from exc
    except Exception as exc:  # venv creation failures
        raise JinaEnvUnavailable(f"could not create the virtual environment: {exc!r}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise JinaEnvUnavailable(f"pip install {' '.join(REQUIREMENTS[:1])} failed:\n{tail}")
    reason = check(path)
    if reason is not None:
        raise JinaEnvUnavailable(f"installed, but unusable: {reason}")
    (path / _MARKER).write_text(JINA_VERSION + "\n")
    log(f"jina environment ready in {time.monotonic() - started:.0f} s")
    return py


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if unusable")
    args = parser.parse_args(argv)
    if args.check:
        reason = check()
        if reason:
            print(f"jina environment unusable: {reason}", file=sys.stderr)
            return 1
        print(python_of(env_dir()))
        return 0
    try:
        py = ensure(log=lambda m: print(m, file=sys.stderr))
    except JinaEnvUnavailable as exc:
        print(f"jina environment unavailable: {exc}", file=sys.stderr)
        return 1
    print(py)
    return 0


if __name__ == "__main__":
    sys.exit(main())
