"""FIFO sizing by simulation (``fewerbits fifo``) on the demo (TFC w2a2, trained briefly) and on
a small all-RTL conv net (CNV w2a2 at 1/8 of the channels, random weights: sliding-window
generators, MaxPool_rtl, MVAU_rtl), and what the FIFOs cost in open synthesis before and after.

    .venv/bin/python benchmarks/fifo_sizing.py [--out runs/bench-fifo] [--no-synth]

Per network: wall time of the sizing (cold: every Verilator model compiled, and warm: from the
cache), the depths chosen, cycles/frame with deep and with sized FIFOs (full-rate input), and
FINN's estimate of the FIFOs' LUT/BRAM plus their storage flip-flops before (depth 32) and after.
For the demo also the stitched accelerator synthesized by Yosys for xc7 (``synth_xilinx``, real
DSP48E1/LUT6_2 primitives) three ways: depth-32 FIFOs in fifo.sv's shift style (before), depth
32 in the distributed style, and the sized depths in the distributed style. Writes
OUT/fifo_sizing.json and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import docs_numbers
import nets
import simulation
from fewerbits.hw.build import build
from fewerbits.hw.rtlsim import design
from fewerbits.hw.rtlsim.fifo import size_fifos
from fewerbits.hw.rtlsim.sim import Stitched
from fewerbits.hw.synth import SynthJob, get_synth_backend

from fewerbits.core.config import BuildConfig


def demo_build(out: Path) -> Path:
    """The demo as `make demo` builds it (the Makefile's DEMO_ARGS: --fit), trained briefly."""
    from fewerbits.core.config import RunConfig, TrainConfig
    from fewerbits.pipeline import run

    args = docs_numbers.demo_args()
    fit = float(args[args.index("--fit") + 1]) if "--fit" in args else None
    d = out / f"tfc-fit{fit}"
    if not (d / "build" / "intermediate_models" / "step_hw_codegen.onnx").is_file():
        cfg = RunConfig(
            train=TrainConfig(**simulation.NETS["tfc-w2a2 (demo, --fit 0.7)"][1]),
            build=BuildConfig(fit=fit),
            verify_samples=100,
            verify_skip=["rtl_nodes", "rtl_stitched"],
        )
        run(cfg, d, progress=False)
    return d / "build"


def cnv_build(out: Path) -> Path:
    d = out / "cnv2000"
    b = d / "build"
    if not (b / "intermediate_models" / "step_hw_codegen.onnx").is_file():
        onnx = nets.export_net("cnv", 2, 2, d / "cnv.onnx", width=0.125)
        # target 2,000 fps: every MVAU has MW > SIMD. At 10,000 fps the first one gets
        # SIMD = MW = 27 and FINN's mvu_vvu_axi.sv asserts "Overflowing output queue" as soon
        # as its output is back-pressured (found by this benchmark; see docs/fifo-sizing.md)
        build(onnx, b, BuildConfig(target_fps=2000, until="codegen"), progress=False)
    return b


def sized_copy(src: Path, dst: Path) -> Path:
    """A copy of the build without earlier sizing (the generated RTL stays where it is)."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("rtlsim", "deploy", "synth"))
    (dst / "folding.json").unlink(missing_ok=True)
    return dst


def sizing_row(name: str, b: Path, work: Path, frames: int) -> dict:
    say = lambda m: print(f"[fifo_sizing] {name}: {m}", file=sys.stderr, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FEWERBITS_CACHE"] = cache
        t0 = time.time()
        cold = size_fifos(sized_copy(b, work / "cold"), frames=frames, progress=say)
        cold_s = time.time() - t0
        t0 = time.time()
        warm = size_fifos(sized_copy(b, work / "warm"), frames=frames, progress=say)
        warm_s = time.time() - t0
    assert [f["depth"] for f in cold["fifos"]] == [f["depth"] for f in warm["fifos"]]
    return {
        "network": name,
        "frames": frames,
        "layers": len(cold["fifos"]) + 1,
        "fifos": len(cold["fifos"]),
        "depths": [f["depth"] for f in cold["fifos"]],
        "depths_measured": [f["depth_measured"] for f in cold["fifos"]],
        "fifo_table": [
            {
                "fifo": f"{f['producer']} -> {f['consumer']}",
                "width": f["width"],
                "depth_measured": f["depth_measured"],
                "depth": f["depth"],
                "luts": (f["cost_before"]["luts"], f["cost"]["luts"]),
                "ffs": (f["cost_before"]["ffs"], f["cost"]["ffs"]),
                "brams": (f["cost_before"]["brams"], f["cost"]["brams"]),
            }
            for f in cold["fifos"]
        ],
        "search_trials": len(cold["search_trials"]),
        "phases_cold": cold["phases_seconds"],
        "phases_warm": warm["phases_seconds"],
        "max_occupancy": [
            max(f["max_occupancy"], f["max_occupancy_backpressure"]) for f in cold["fifos"]
        ],
        "cycles_per_frame": cold["cycles_per_frame"],
        "input_interval_cycles": cold["input_interval_cycles"],
        "total_before": cold["total_before"],
        "total_after": cold["total_after"],
        "saved": cold["saved"],
        "cold_s": round(cold_s, 1),
        "warm_s": round(warm_s, 1),
        "rounds": len(cold["rounds"]),
    }


def synth_demo(b: Path, sized: Path, work: Path) -> list[dict]:
    """The demo's stitched accelerator through Yosys (xc7): FIFO depth and style variants."""
    st = Stitched(b, design.FIFO_DEPTH)
    depths = Stitched(sized).fifo_depths
    data = {k: v for d in st.designs for k, v in d.data_files.items()}
    rows = []
    for label, dep, style in (
        ("depth 32, shift (before)", design.FIFO_DEPTH, "shift"),
        ("depth 32, distributed", design.FIFO_DEPTH, "distributed"),
        ("sized, distributed", depths, "distributed"),
    ):
        print(f"[fifo_sizing] synthesizing the demo: {label}", file=sys.stderr, flush=True)
        top = design.stitched_top(st.designs, dep, fifo_style=style)
        job = SynthJob("stitched", top, "fb_top", "xc7", data_files=data)
        res = get_synth_backend().synthesize(
            job, work / label.split(",")[0].replace(" ", "_") / style
        )
        r = res.resources
        rows.append({"variant": label, "depths": dep, **r, "seconds": round(res.seconds, 1)})
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/bench-fifo")
    p.add_argument("--no-synth", action="store_true", help="skip the Yosys synthesis rows")
    a = p.parse_args()
    out = Path(a.out).absolute()
    builds = {"tfc-w2a2 (demo)": demo_build(out), "cnv-w2a2 /8 (conv)": cnv_build(out)}
    # the conv net runs ~50,000 cycles a frame: 16 frames reach its steady state
    frames = {"tfc-w2a2 (demo)": 64, "cnv-w2a2 /8 (conv)": 16}
    rows = [sizing_row(n, b, out / "work" / n.split()[0], frames[n]) for n, b in builds.items()]
    load = "-".join(f"{v:.0f}" for v in os.getloadavg())
    print(
        f"fewerbits fifo, {time.strftime('%Y-%m-%d %H:%M')}, load (1/5/15 min) {load}; "
        "FINN estimate (LUT, BRAM36) + storage FF"
    )
    print(
        "| network | frames | FIFOs | depths after (all 32 before) | cycles/frame deep / sized "
        "| LUT before / after | FF before / after | BRAM36 before / after | cold / warm s |"
    )
    print("|---|---:|---:|---|---|---|---|---|---|")
    for r in rows:
        b, f, c = r["total_before"], r["total_after"], r["cycles_per_frame"]
        print(
            f"| {r['network']} | {r['frames']} | {r['fifos']} | {r['depths']} | {c['deep'][0]:g} / {c['sized'][0]:g} "
            f"| {b['luts']:,.0f} / {f['luts']:,.0f} | {b['ffs']:,} / {f['ffs']:,} "
            f"| {b['brams']:g} / {f['brams']:g} | {r['cold_s']} / {r['warm_s']} |"
        )
    print("Where the cold time goes (wall s; the compiles also in CPU s)")
    print(
        "| network | read | compile deep (CPU) | runs deep | Python check | search (trials) "
        "| compile sized (CPU) | runs sized | total |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        p = r["phases_cold"]
        print(
            f"| {r['network']} | {p['read']} | {p['compile_deep']} ({p['compile_deep_cpu']}) "
            f"| {p['runs_deep']} | {p['python_check']} | {p.get('search', 0)} ({r['search_trials']}) "
            f"| {p['compile_sized']} ({p['compile_sized_cpu']}) | {p['runs_sized']} | {r['cold_s']} |"
        )
    for r in rows:
        if r["depths_measured"] == r["depths"]:
            continue
        print(f"{r['network']}: FIFOs the search made smaller than the measurement")
        print(
            "| FIFO | bits | depth measured -> searched | LUT 32 / after | FF 32 / after "
            "| BRAM36 32 / after |"
        )
        print("|---|---:|---|---|---|---|")
        for f in r["fifo_table"]:
            if f["depth_measured"] != f["depth"]:
                print(
                    f"| {f['fifo']} | {f['width']} | {f['depth_measured']} -> {f['depth']} "
                    f"| {f['luts'][0]:g} / {f['luts'][1]:g} | {f['ffs'][0]:,} / {f['ffs'][1]:,} "
                    f"| {f['brams'][0]:g} / {f['brams'][1]:g} |"
                )
    synth = []
    if not a.no_synth and get_synth_backend().available() is None:
        demo = builds["tfc-w2a2 (demo)"]
        synth = synth_demo(demo, out / "work" / "tfc-w2a2" / "cold", out / "synth")
        print("Yosys synth_xilinx (xc7) of the demo's stitched accelerator")
        print("| FIFOs | LUT | LUTRAM | FF | CARRY | BRAM36 / BRAM18 | DSP | s |")
        print("|---|---:|---:|---:|---:|---|---:|---:|")
        for r in synth:
            print(
                f"| {r['variant']} | {r['LUT']:,} | {r['LUTRAM']:,} | {r['FF']:,} | {r['CARRY']:,} "
                f"| {r['BRAM36']} / {r['BRAM18']} | {r['DSP']} | {r['seconds']} |"
            )
    (out / "fifo_sizing.json").write_text(
        json.dumps({"sizing": rows, "synthesis_xc7": synth}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
