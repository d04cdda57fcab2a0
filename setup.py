"""The one packaging rule pyproject.toml cannot state: ``plugins/`` installs as ``devkit_plugins``.

A top-level package named ``plugins`` would collide with other projects' folders of that
name, so the folder keeps its short name in the repository and gets a devkit-specific
one when installed. Metadata, dependencies and entry points live in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(include=["devkit", "devkit.*"], exclude=["*.__pycache__"]),
        "devkit_plugins",
    ],
    package_dir={"devkit_plugins": "plugins"},
)
