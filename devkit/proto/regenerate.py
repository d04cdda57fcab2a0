"""Regenerate ``jina_pb2.py`` / ``jina_pb2_grpc.py`` from ``jina.proto``.

Run ``python -m devkit.proto.regenerate`` after editing the .proto file; the generated
modules are committed so that installing devkit needs no protobuf compiler.
docarray ships ``docarray.proto`` and registers it in the default descriptor pool, so the
generated import of ``docarray_pb2`` is pointed at docarray's own module.
"""

from __future__ import annotations

import pathlib
import sys

import docarray
from grpc_tools import protoc

HERE = pathlib.Path(__file__).parent
DOCARRAY_PROTO_DIR = pathlib.Path(docarray.__file__).parent / "proto"


def main() -> int:
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    code = protoc.main(
        [
            "protoc",
            f"-I{HERE}",
            f"-I{DOCARRAY_PROTO_DIR}",
            f"-I{include}",
            f"--python_out={HERE}",
            f"--pyi_out={HERE}",
            f"--grpc_python_out={HERE}",
            str(HERE / "jina.proto"),
        ]
    )
    if code != 0:
        return code
    pb2 = HERE / "jina_pb2.py"
    pb2.write_text(
        pb2.read_text().replace(
            "import docarray_pb2 as docarray__pb2",
            "import docarray.proto as docarray__pb2  # registers docarray.proto",
        )
    )
    grpc_mod = HERE / "jina_pb2_grpc.py"
    grpc_mod.write_text(
        grpc_mod.read_text().replace(
            "import jina_pb2 as jina__pb2", "from devkit.proto import jina_pb2 as jina__pb2"
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
