"""`fewerbits run`: the whole pipeline on one model."""

from __future__ import annotations

import argparse
from pathlib import Path

from fewerbits.cli.common import (
    add_build_args,
    add_force_arg,
    add_train_args,
    build_config,
    train_config,
)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "run", help="train, export, verify, build and report on one model (make demo)"
    )
    add_train_args(p)
    add_build_args(p)
    p.add_argument(
        "--out", required=True, help="run folder (train/, export/, build/, report.json, report.md)"
    )
    p.add_argument(
        "--verify-samples",
        type=int,
        default=None,
        help="test images to verify (default: all; 0 = all)",
    )
    p.add_argument(
        "--skip",
        nargs="*",
        default=None,
        metavar="LEVEL",
        help="verification levels to leave out (default: rtl_nodes, one Verilator build per layer; "
        "`--skip` alone runs every level)",
    )
    add_force_arg(p)
    return p


def main(a: argparse.Namespace) -> int:
    from fewerbits.core.config import RunConfig
    from fewerbits.pipeline import run

    cfg = RunConfig(
        train=train_config(a),
        build=build_config(a),
        verify_samples=a.verify_samples,
        verify_skip=a.skip,
    )
    report = run(cfg, Path(a.out), progress=not a.quiet, force=a.force)
    return 0 if report["verification"]["all_passed"] else 1
