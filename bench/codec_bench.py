"""Encode/decode cost per document of each payload: devkit's codec beside docarray's protobuf.

    python bench/codec_bench.py [--quick]

Measured in this process, in the same run: devkit's codec (decoding validates with the
schema, as a worker does), docarray's ``DocListProto`` (``to_protobuf`` + serialise;
parse + ``from_protobuf``), and devkit's own ``DocListProto`` reader (what a devkit worker
uses for a request from a jina peer). Each figure is the best of several rounds.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from docarray import DocList
from docarray.proto import DocListProto
from payloads import PAYLOADS, Payload

from devkit.codec import decode_docs, encode_docs, read_doclist_proto


def _best_us(call: Callable[[], Any], docs: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - began)
    return best / docs * 1e6


def measure(payload: Payload, rounds: int) -> dict[str, float]:
    """Microseconds per document for each way of encoding and decoding ``payload``."""
    count = payload.request_size
    docs = payload.docs(count)
    doclist_type = DocList[payload.schema]  # type: ignore[name-defined]
    raw = encode_docs(docs)
    proto = docs.to_protobuf().SerializeToString()
    return {
        "codec encode": _best_us(lambda: encode_docs(docs), count, rounds),
        "codec decode": _best_us(lambda: decode_docs(raw, doclist_type), count, rounds),
        "docarray encode": _best_us(lambda: docs.to_protobuf().SerializeToString(), count, rounds),
        "docarray decode": _best_us(
            lambda: doclist_type.from_protobuf(DocListProto.FromString(proto)), count, max(3, rounds // 4)
        ),
        "devkit proto decode": _best_us(
            lambda: read_doclist_proto(DocListProto.FromString(proto), doclist_type), count, rounds
        ),
    }


def print_table(figures: dict[str, dict[str, float]]) -> None:
    columns = list(next(iter(figures.values())))
    print("\ncodec, us per document (best of several rounds; one request of the payload's size)")
    print(f"  {'payload':<12}" + "".join(f"{name:>21}" for name in columns))
    for name, row in figures.items():
        print(f"  {name:<12}" + "".join(f"{row[column]:>21.1f}" for column in columns))
    print(
        "  (codec vs docarray: "
        + ", ".join(
            f"{name} {row['docarray encode'] / row['codec encode']:.0f}x/{row['docarray decode'] / row['codec decode']:.0f}x"
            for name, row in figures.items()
        )
        + " cheaper to encode/decode)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args(argv)
    rounds = 5 if args.quick else 20
    print_table({payload.name: measure(payload, rounds) for payload in PAYLOADS})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
