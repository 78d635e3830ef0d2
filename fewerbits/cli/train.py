"""`fewerbits train`: quantization-aware training -> checkpoint.pt, train.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from fewerbits.cli.common import add_force_arg, add_train_args, train_config


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="quantization-aware training -> checkpoint.pt, train.json")
    add_train_args(p)
    p.add_argument("--out", required=True, help="folder for checkpoint.pt and train.json")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoint.pt (model, optimizer, schedule, epoch) up to --epochs",
    )
    add_force_arg(p)
    return p


def main(a: argparse.Namespace) -> int:
    from fewerbits.train.schemes import NOT_DEPLOYABLE_HINT
    from fewerbits.train.trainer import train

    r = train(train_config(a), Path(a.out), progress=not a.quiet, resume=a.resume, force=a.force)
    print(f"test accuracy {r['test_accuracy']:.4f}; wrote {Path(a.out) / 'checkpoint.pt'}")
    if not r["deployable"]:
        print(f"note: scheme {r['scheme']} is not deployable: {NOT_DEPLOYABLE_HINT}")
    return 0
