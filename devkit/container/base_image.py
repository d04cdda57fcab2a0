"""The base image every container Executor runs on, built locally without a registry.

No image is pulled: Debian bookworm is made with ``mmdebstrap`` and imported with
``docker import``, and devkit's dependencies are installed into ``/opt/venv`` from a
wheelhouse that the host's pip downloads first, so nothing inside the build needs the
network or a certificate. devkit itself is not in the base image: a container runs the
source it is given (bind-mounted, or copied into an Executor image), so a new commit
needs no rebuild. The tag carries a hash of the inputs (requirements, distribution,
recipe), so an unchanged rebuild is a look-up that takes well under a second.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

__all__ = ["BASE_REPOSITORY", "base_image_tag", "base_requirements", "build_base_image", "image_exists"]

log = logging.getLogger("devkit.container")

BASE_REPOSITORY = "devkit-base"
SUITE = "bookworm"
#: bumped when the recipe below changes, so that old images are not reused
RECIPE_VERSION = "1"
PACKAGES = ("python3", "python3-venv", "ca-certificates", "tini")
VENV_PATH = "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


#: the extras a worker or gateway in a container may import: HTTP front-ends, and tracing and
#: metrics (a traced Flow's container workers export spans like any other worker)
EXTRAS = ("http", "observability")


def base_requirements() -> list[str]:
    """devkit's runtime requirements plus :data:`EXTRAS`: what a worker or gateway imports.

    Read from the source tree's pyproject.toml when devkit runs from one (installed metadata
    can be older than the source), else from the installed distribution.
    """
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if pyproject.exists():
        project = tomllib.loads(pyproject.read_text())["project"]
        extras = project["optional-dependencies"]
        return sorted({*project["dependencies"], *(r for extra in EXTRAS for r in extras[extra])})
    requirements: list[str] = []
    for requirement in metadata.requires("devkit") or []:
        name, _, marker = requirement.partition(";")
        if not marker or any(f'extra == "{extra}"' in marker for extra in EXTRAS):
            requirements.append(name.strip())
    return sorted(set(requirements))


def base_image_tag(requirements: list[str] | None = None) -> str:
    """``devkit-base:<hash>`` of the requirements, the Debian suite and the recipe."""
    text = "\n".join([RECIPE_VERSION, SUITE, *PACKAGES, *(requirements or base_requirements())])
    return f"{BASE_REPOSITORY}:{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def image_exists(tag: str) -> bool:
    """Whether the local engine has ``tag`` (the cache check: no registry is asked)."""
    import docker
    from docker.errors import ImageNotFound

    client = docker.from_env()
    try:
        client.images.get(tag)
        return True
    except ImageNotFound:
        return False
    finally:
        client.close()


def _mirror() -> str:
    """The Debian mirror the host's apt uses (the image then needs no other network).

    ``DEVKIT_DEBIAN_MIRROR`` overrides it; a host without apt sources must set it.
    """
    configured = os.environ.get("DEVKIT_DEBIAN_MIRROR")
    if configured:
        return configured
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    for line in deb822.read_text().splitlines() if deb822.exists() else []:
        if line.startswith("URIs:"):
            return line.split()[1]
    one_line = Path("/etc/apt/sources.list")
    for line in one_line.read_text().splitlines() if one_line.exists() else []:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "deb":
            return fields[1]
    raise RuntimeError(
        "devkit build found no Debian mirror in this host's apt sources; "
        "set DEVKIT_DEBIAN_MIRROR to the mirror to build the base image from"
    )


def _wheelhouse(requirements: list[str], into: Path) -> None:
    """Download every requirement as a wheel for the image's Python (CPython 3.11, x86-64)."""
    (into / "requirements.txt").write_text("\n".join(requirements) + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--only-binary=:all:",
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--platform",
            "manylinux2014_x86_64",
            "--platform",
            "manylinux_2_28_x86_64",
            "--platform",
            "manylinux_2_17_x86_64",
            "--platform",
            "any",
            "-d",
            str(into),
            "-r",
            str(into / "requirements.txt"),
        ],
        check=True,
    )


def build_base_image(*, force: bool = False, tag: str | None = None) -> str:
    """Build the base image unless the engine already has it; return its tag.

    Needs ``mmdebstrap`` (``scripts/ensure_system_packages.py`` installs it) and a Docker engine.
    """
    requirements = base_requirements()
    tag = tag or base_image_tag(requirements)
    if not force and image_exists(tag):
        log.info("base image %s is up to date", tag)
        return tag
    if shutil.which("mmdebstrap") is None:
        raise RuntimeError(
            "building the base image needs mmdebstrap: run scripts/ensure_system_packages.py "
            "(as root on Debian) or install the mmdebstrap package"
        )
    with tempfile.TemporaryDirectory(prefix="devkit-wheels-") as tmp:
        wheels = Path(tmp)
        _wheelhouse(requirements, wheels)
        hooks = [
            'mkdir -p "$1/tmp/wheels"',
            f"copy-in {wheels}/. /tmp/wheels",
            'chroot "$1" python3 -m venv /opt/venv',
            'chroot "$1" /opt/venv/bin/pip install -q --no-index --find-links /tmp/wheels -r /tmp/wheels/requirements.txt',
            'rm -rf "$1/tmp/wheels"',
        ]
        debstrap = subprocess.Popen(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                *(f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("doc", "man", "locale")),
                *(f"--customize-hook={hook}" for hook in hooks),
                SUITE,
                "-",
                _mirror(),
            ],
            stdout=subprocess.PIPE,
            env={key: value for key, value in os.environ.items() if not key.startswith("PIP_")},
        )
        assert debstrap.stdout is not None
        imported = subprocess.run(
            [
                "docker",
                "import",
                "--change",
                f"ENV PATH={VENV_PATH}",
                "--change",
                'ENTRYPOINT ["/usr/bin/tini", "--"]',
                "-",
                tag,
            ],
            stdin=debstrap.stdout,
            capture_output=True,
            check=False,
        )
        debstrap.stdout.close()
        if debstrap.wait() != 0 or imported.returncode != 0:
            raise RuntimeError(f"building {tag} failed: {imported.stderr.decode(errors='replace').strip()}")
    log.info("built base image %s", tag)
    return tag


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(build_base_image(force=bool(os.environ.get("DEVKIT_FORCE_BUILD"))))
