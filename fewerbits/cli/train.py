"""`fewerbits train`: quantization-aware training -> checkpoint.pt, train.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from fewerbits.cli.common import add_train_args, train_config


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="quantization-aware training -> checkpoint.pt, train.json")
    add_train_args(p)
    p.add_argument("--out", required=True)
    return p


def main(a: argparse.Namespace) -> int:
    from fewerbits.train.trainer import train

    r = train(train_config(a), Path(a.out), progress=not a.quiet)
    print(f"test accuracy {r['test_accuracy']:.4f}; wrote {Path(a.out) / 'checkpoint.pt'}")
    return 0
