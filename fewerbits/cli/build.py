"""`fewerbits build`: QONNX -> FINN build directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from fewerbits.cli.common import add_build_args, build_config


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "build", help="QONNX -> FINN build directory (estimates, generated code, ...)"
    )
    p.add_argument("model", help="model.onnx or an export folder")
    add_build_args(p)
    p.add_argument("--out", required=True)
    return p


def main(a: argparse.Namespace) -> int:
    from fewerbits.hw.flow import build

    src = Path(a.model)
    onnx = src / "model.onnx" if src.is_dir() else src
    res = build(onnx, Path(a.out), build_config(a), progress=not a.quiet)
    est = res["estimates"]
    if est:
        print(
            f"estimated {est['fps']:,.0f} FPS, {est['luts']:,.0f} LUT, {est['brams']:g} BRAM36; "
            f"steps skipped: {len(res['steps']['skipped'])}"
        )
    return 0
