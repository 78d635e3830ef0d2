"""`fewerbits verify`: every available verification level on a build or export folder."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "verify", help="run every available verification level on a build or export folder"
    )
    p.add_argument("dir")
    return p


def main(a: argparse.Namespace) -> int:
    print(
        "fewerbits verify: not implemented yet (issue 4); `fewerbits run` verifies PyTorch == QONNX",
        file=sys.stderr,
    )
    return 1
