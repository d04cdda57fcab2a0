"""The thread runtime's in-process hand-off against the gRPC leg it replaces, in one run.

The same 2-Executor Flow of the payload mix (bench/devkit_mix.py) is measured with the
gateway handing requests to its workers in-process and, alternately, over their sockets
(as a faulted edge would), rounds interleaved so machine load hits both alike:

    python bench/handoff.py [--rounds 3] [--payload text --payload image] [--quick]

Prints docs/s, 1-document p50 and CPU us per document for each, and the ratios per round.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from unittest import mock

from devkit_mix import measure
from payloads import PAYLOADS, MixFigures

from devkit.serve import connection


@contextlib.contextmanager
def over_sockets() -> Iterator[None]:
    """Every edge takes its socket: no worker of this process is found by address."""
    with mock.patch.object(connection, "local_worker", lambda address: None):
        yield


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--payload", action="append", choices=[p.name for p in PAYLOADS])
    parser.add_argument("--quick", action="store_true", help="fewer posts and documents")
    args = parser.parse_args()
    payloads = [p for p in PAYLOADS if not args.payload or p.name in args.payload]
    posts, scale = (100, 0.25) if args.quick else (300, 0.5)
    print(
        "payload    round  in-process docs/s  p50 ms  cpu us | gRPC leg docs/s  p50 ms  cpu us | docs/s  cpu"
    )
    for round_ in range(args.rounds):
        local = measure("thread", payloads, posts=posts, scale=scale)
        with over_sockets():
            socket = measure("thread", payloads, posts=posts, scale=scale)
        for payload in payloads:
            a, b = local[payload.name], socket[payload.name]
            print(
                f"{payload.name:<10} {round_:>5}  {_row(a)} | {_row(b)} | "
                f"{a.docs_per_s / b.docs_per_s:5.2f}x {b.cpu_us_per_doc / a.cpu_us_per_doc:4.2f}x"
            )


def _row(f: MixFigures) -> str:
    return f"{f.docs_per_s:>15,.0f}  {f.p50_ms:6.2f}  {f.cpu_us_per_doc:6.0f}"


if __name__ == "__main__":
    main()
