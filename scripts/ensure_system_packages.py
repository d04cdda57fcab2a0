"""Install the few system libraries and commands the test suite needs, when they are missing.

Run by tox before the tests. PNG plots need the cairo library (used by cairosvg); the HTTP
gateway tests run the docs' curl examples with curl; ``devkit build`` makes the container
base image with mmdebstrap (no registry needed). On a
Debian-like machine where we are root, a missing library is installed with apt-get;
elsewhere the script says what to install and exits non-zero.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys

#: shared library name -> Debian package providing it
NEEDED = {"cairo": "libcairo2"}
#: command -> Debian package providing it
COMMANDS = {"curl": "curl", "mmdebstrap": "mmdebstrap"}


def main() -> int:
    missing = {lib: package for lib, package in NEEDED.items() if ctypes.util.find_library(lib) is None}
    missing.update(
        {command: package for command, package in COMMANDS.items() if shutil.which(command) is None}
    )
    if not missing:
        return 0
    packages = sorted(set(missing.values()))
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"missing system libraries {sorted(missing)}: install {' '.join(packages)}", file=sys.stderr)
        return 1
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], check=True, env=env
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
