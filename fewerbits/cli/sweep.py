"""`fewerbits sweep`: accuracy vs hardware cost over schemes, bit widths and widths."""

from __future__ import annotations

import argparse
from pathlib import Path

from fewerbits.cli.common import add_force_arg


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "sweep", help="train/export/build a grid of schemes, bits and widths; Pareto report"
    )
    p.add_argument("--model", default="tfc")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--schemes", default="binarynet,int", help="comma-separated scheme names")
    p.add_argument(
        "--bits",
        default="1x1,2x2,4x4",
        help="WxA pairs for k-bit schemes, e.g. 1x1,1x2,2x2,4x4,8x8",
    )
    p.add_argument("--widths", default="1", help="width multipliers, e.g. 0.5,1,2")
    p.add_argument("--board", default="Pynq-Z1")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument(
        "--fit", type=float, default=0.7, help="resource budget fraction for the folding search"
    )
    p.add_argument("--no-float", action="store_true", help="leave out the float baseline")
    p.add_argument(
        "--max-steps", type=int, default=None, help="cap optimiser steps per epoch (smoke runs)"
    )
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", required=True, help="sweep folder (points/, sweep.json, sweep.md)")
    add_force_arg(p)
    return p


def main(a: argparse.Namespace) -> int:
    from fewerbits.sweep import SweepConfig, parse_bits, sweep

    try:
        widths = [float(w) for w in a.widths.split(",")]
    except ValueError:
        from fewerbits.sweep import SweepOptionError

        raise SweepOptionError(f"--widths {a.widths!r}: expected numbers like 0.5,1,2") from None
    cfg = SweepConfig(
        model=a.model,
        dataset=a.dataset,
        schemes=[s for s in a.schemes.split(",") if s],
        bits=parse_bits(a.bits),
        widths=widths,
        board=a.board,
        epochs=a.epochs,
        fit=a.fit,
        include_float=not a.no_float,
        max_steps=a.max_steps,
        jobs=a.jobs,
    )
    records = sweep(cfg, Path(a.out), progress=not a.quiet, force=a.force)
    ok = sum(r["status"] == "ok" for r in records)
    print(f"{len(records)} points ({ok} deployable and built); see {Path(a.out) / 'sweep.md'}")
    return 0
