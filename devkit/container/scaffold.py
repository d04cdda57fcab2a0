"""``devkit new NAME``: an Executor folder laid out as page 43 of jina's docs describes.

The folder holds executor.py, config.yml, requirements.txt, a Dockerfile and a test that
uses devkit's test kit, so it passes its own test as created and builds with ``devkit build``.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["scaffold"]

_EXECUTOR = '''"""{name}: a devkit Executor (edit me)."""

from __future__ import annotations

from typing import Any

from docarray import DocList
from docarray.documents import TextDoc

from devkit import Executor, requests


class {name}(Executor):
    """Upper-cases every document's text."""

    @requests
    def process(self, docs: DocList[TextDoc], **kwargs: Any) -> DocList[TextDoc]:
        for doc in docs:
            doc.text = (doc.text or "").upper()
        return docs
'''

_CONFIG = """jtype: {name}
py_modules:
  - executor.py
metas:
  name: {name}
"""

_DOCKERFILE = """# Built by `devkit build .` on devkit's base image (no registry needed); elsewhere pass
# --build-arg BASE_IMAGE=python:3.11-slim and add devkit to requirements.txt.
ARG BASE_IMAGE=devkit-base
FROM ${{BASE_IMAGE}}
COPY . /executor
WORKDIR /executor
ENTRYPOINT ["python", "-m", "devkit", "executor", "--uses", "config.yml", "--host", "0.0.0.0"]
"""

_TEST = '''"""{name}'s test: the test kit serves it (on every runtime it is asked for) and posts to it."""

from docarray import DocList
from docarray.documents import TextDoc

from executor import {name}


def test_{snake}_upper_cases_text(deployment_factory):
    with deployment_factory({name}) as deployment:
        docs = deployment.post("/", DocList[TextDoc]([TextDoc(text="hello")]), return_type=DocList[TextDoc])
    assert docs.text == ["HELLO"]
'''


def scaffold(name: str, path: str | None = None) -> Path:
    """Create the folder for Executor class ``name`` at ``path`` (default ``./name``); return it."""
    if not name.isidentifier() or not name[0].isupper():
        raise ValueError(f"Executor name {name!r} must be a Python class name such as MyExecutor")
    folder = Path(path or name)
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} already exists and is not empty; choose another --path")
    folder.mkdir(parents=True, exist_ok=True)
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    files = {
        "executor.py": _EXECUTOR,
        "config.yml": _CONFIG,
        "requirements.txt": "# the Executor's own dependencies, one a line (devkit's are in the base image)\n",
        "Dockerfile": _DOCKERFILE,
        f"test_{snake}.py": _TEST,
    }
    for filename, template in files.items():
        (folder / filename).write_text(template.format(name=name, snake=snake))
    return folder
