"""`fewerbits build`: QONNX -> FINN build directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from fewerbits.cli.common import add_build_args, add_force_arg, build_config
from fewerbits.core.artifacts import BuildDir, ExportDir


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "build", help="QONNX -> FINN build directory (estimates, generated code, ...)"
    )
    p.add_argument("model", help="model.onnx or an export folder")
    add_build_args(p)
    p.add_argument("--out", required=True)
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue after the last completed step of an earlier build in --out (same config)",
    )
    add_force_arg(p)
    return p


def main(a: argparse.Namespace) -> int:
    from fewerbits.hw.build import BuildError, build
    from fewerbits.hw.vivado import continuation_command

    src = Path(a.model)
    onnx = ExportDir(src).model if src.is_dir() else src
    if not onnx.is_file():
        raise BuildError(f"model {onnx} not found; give a .onnx file or an export folder")
    cfg = build_config(a)
    res = build(
        onnx,
        Path(a.out),
        cfg,
        progress=not a.quiet,
        resume=a.resume,
        force=a.force,
        command=continuation_command(a.model, cfg, a.out),
    )
    est = res.estimates
    if est:
        print(
            f"estimated {est['fps']:,.0f} FPS, {est['luts']:,.0f} LUT, {est['brams']:g} BRAM36, "
            f"{est['dsps']:g} DSP"
            + (f", {est['urams']:g} URAM" if est.get("urams") else "")
            + f"; {len(res.steps.ran)} steps done "
            f"({len(res.steps.reused)} reused from the earlier build), "
            f"{len(res.steps.skipped)} skipped"
        )
    print(f"report: {BuildDir(Path(a.out)).report_md}")
    return 0
