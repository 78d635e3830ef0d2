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
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue after the last completed step of an earlier build in --out (same config)",
    )
    return p


def _continue_command(a: argparse.Namespace) -> str:
    from fewerbits.hw.vivado import docker_command

    args = ["--board", a.board, "--clock-ns", f"{a.clock_ns:g}"]
    if a.part:
        args += ["--part", a.part]
    for opt, val in (("--fit", a.fit), ("--folding", a.folding), ("--target-fps", a.target_fps)):
        if val is not None:
            args += [opt, f"{val:g}" if isinstance(val, float) else str(val)]
    return docker_command(a.model, args, a.out)


def main(a: argparse.Namespace) -> int:
    from fewerbits.hw.flow import BuildError, build

    src = Path(a.model)
    onnx = src / "model.onnx" if src.is_dir() else src
    if not onnx.is_file():
        raise BuildError(f"model {onnx} not found; give a .onnx file or an export folder")
    res = build(
        onnx,
        Path(a.out),
        build_config(a),
        progress=not a.quiet,
        resume=a.resume,
        command=_continue_command(a),
    )
    est = res["estimates"]
    if est:
        print(
            f"estimated {est['fps']:,.0f} FPS, {est['luts']:,.0f} LUT, {est['brams']:g} BRAM36, "
            f"{est['dsps']:g} DSP; {len(res['steps']['ran'])} steps done "
            f"({len(res['steps']['reused'])} reused from the earlier build), "
            f"{len(res['steps']['skipped'])} skipped"
        )
    print(f"report: {Path(a.out) / 'report.md'}")
    return 0
