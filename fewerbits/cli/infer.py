"""`fewerbits infer`: run a deployment package on inputs."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("infer", help="run a deployment package on inputs")
    p.add_argument("deploy_dir")
    return p


def main(a: argparse.Namespace) -> int:
    print("fewerbits infer: not implemented yet (issue 7)", file=sys.stderr)
    return 1
