"""FINN's own target_fps search vs `fewerbits build --fit` on the same models (xc7z020, 100 MHz).

For TFC and CNV (random-weight BNN-PYNQ topologies) at w1a1 and w2a2: each model is taken to
FINN's specialize_layers stage with fewerbits' flow (RTL preferred, identity input thresholds
removed), then folded (a) by FINN's SetFolding at 49 log-spaced FPS targets, keeping the fastest
result within the budget, and (b) by hw/folding.py's fit_folding. Estimates are FINN's.

    .venv/bin/python benchmarks/folding.py [--fit 0.7] [--out runs/bench_folding]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fewerbits.hw.boards import get_board  # noqa: E402
from fewerbits.hw.build import build  # noqa: E402
from fewerbits.hw.build.finn_config import dataflow_config  # noqa: E402
from nets import export_net  # noqa: E402

from fewerbits.core.config import BuildConfig  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fit", type=float, default=0.7)
    ap.add_argument("--board", default="Pynq-Z1")
    ap.add_argument("--out", default="runs/bench_folding")
    a = ap.parse_args()
    out = Path(a.out)
    board = get_board(a.board)
    rows = []
    for name in ("tfc", "cnv"):
        for w, ab in ((1, 1), (2, 2)):
            onnx = export_net(name, w, ab, out / f"{name}_w{w}a{ab}.onnx")
            bdir = out / f"{name}_w{w}a{ab}"
            t0 = time.time()
            build(
                onnx, bdir, BuildConfig(board=a.board, fit=a.fit, until="estimates"), progress=False
            )
            t_fit = time.time() - t0
            from fewerbits.hw.folding import Budget, finn_target_fps_search, model_estimates
            from finn.builder.build_dataflow_steps import _minimize_bit_width
            from qonnx.core.modelwrapper import ModelWrapper

            spec = ModelWrapper(str(bdir / "intermediate_models" / "step_specialize_layers.onnx"))
            spec = _minimize_bit_width(spec, dataflow_config(BuildConfig(board=a.board), bdir))
            t0 = time.time()
            finn = finn_target_fps_search(spec, board.part, Budget.of_board(board, a.fit), 10.0)
            t_finn = time.time() - t0
            final = ModelWrapper(
                str(bdir / "intermediate_models" / "step_generate_estimate_reports.onnx")
            )
            ours = model_estimates(final, board.part, 10.0)
            rows.append((f"{name.upper()}-w{w}a{ab}", finn, ours, t_finn, t_fit))
    print(
        f"\n{a.board} ({board.part}), 100 MHz, budget {a.fit:.0%} of LUT/BRAM/DSP "
        f"({board.luts * a.fit:,.0f} LUT, {board.brams * a.fit:g} BRAM36, {board.dsps * a.fit:g} DSP)\n"
    )
    print(
        "| model | FINN target_fps: FPS | LUT | BRAM36 | DSP | --fit: FPS | LUT | BRAM36 | DSP | FPS ratio | search s (FINN / fit build) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, f, o, tf, to in rows:
        ff = f.get("fps", 0.0)
        print(
            f"| {label} | {ff:,.0f} | {f.get('luts', 0):,.0f} | {f.get('brams', 0):g} | {f.get('dsps', 0):g} "
            f"| {o['fps']:,.0f} | {o['luts']:,.0f} | {o['brams']:g} | {o['dsps']:g} "
            f"| {o['fps'] / ff if ff else float('inf'):.2f}x | {tf:.1f} / {to:.1f} |"
        )


if __name__ == "__main__":
    main()
