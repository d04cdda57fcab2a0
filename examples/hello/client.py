"""Send a few sentences to the served example and print what comes back.

python examples/hello/client.py                 # the Flow (flow.yml, port 12345)
python examples/hello/client.py --port 12346    # the Deployment (deployment.yml)
"""

from __future__ import annotations

import argparse

from docarray import DocList
from executor import CountedDoc, TextDoc

from devkit import Client

SENTENCES = ["hello world", "devkit serves executors over grpc"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12345)
    args = parser.parse_args()

    with Client(host=args.host, port=args.port) as client:
        docs = client.post(
            "/",
            DocList[TextDoc]([TextDoc(text=text) for text in SENTENCES]),
            return_type=DocList[CountedDoc],
        )
    for doc in docs:
        print(f"{doc.text!r} words={doc.words} longest={doc.longest_word!r}")


if __name__ == "__main__":
    main()
