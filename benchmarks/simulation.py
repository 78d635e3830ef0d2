"""Stitched Verilator simulation vs FINN's Python execution of the same dataflow graph.

For the demo network (TFC w2a2) and a larger one (SFC w2a2, 3x256), each trained briefly on
MNIST-5k and built all-RTL for Pynq-Z1 (xc7z020) through code generation, this prints:
frames/s of FINN's Python execution (specialised nodes mapped back to their base types, the
only FINN execution available without Vivado) -- both through qonnx/FINN ``execute_onnx`` and as
a lean per-node loop over ``execute_node`` -- frames/s of the stitched Verilator model (packing,
process start and reset included), the speed-ups, simulated cycles per wall second, Verilator
build time (cold, then cached), measured cycles/frame and latency vs FINN's estimates, and
bit-exactness of the dataflow outputs between the two. Every rate is given twice: per wall
second and per CPU second (the process's own CPU time: on a machine shared with other work the
wall-clock rates of both sides fall, the CPU rates do not).

    .venv/bin/python benchmarks/simulation.py [--frames 2000] [--python-frames 100] [--out DIR]
                                              [--simulator NAME ...] [--nets tfc-fit,...]
                                              [--replot]

The demo row is the demo as `make demo` ships it (--fit 0.7, 98 cycles/frame); the TFC row at
FINN's SetFolding default (784 cycles/frame) is the folding of earlier runs. Every net runs on
each simulator back end (default: ``verilator``, FINN's own MVU model, and
``verilator-fastmac``, the cheaper MAC model of hw/sim/verilator/fastmac.py, whose outputs and
cycle counts are checked against the first back end's on every frame). --replot redraws the
PNG from DIR/simulation.json.

Writes DIR/simulation.json and DIR/simulation.png (frames per CPU second; default
runs/bench-sim).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from fewerbits.hw.build import steps as S
from fewerbits.hw.sim import backend_names

from fewerbits.core.artifacts import BuildDir

#: name -> (folder under --out, training settings, build settings). The demo row is the demo
#: as `make demo` ships it (Makefile DEMO_ARGS: --fit 0.7, the fastest folding that fits 70 %
#: of the board); the 784-cycle rows are FINN's SetFolding default target (100k frames/s).
NETS = {
    "tfc-w2a2 (demo, --fit 0.7)": ("tfc-fit", dict(model="tfc", epochs=2), dict(fit=0.7)),
    "tfc-w2a2 (SetFolding 100k fps)": ("tfc", dict(model="tfc", epochs=2), {}),
    "sfc-w2a2 (3x256, --fit 0.7)": (
        "sfc-fit",
        dict(model="sfc", epochs=1, max_steps=20),
        dict(fit=0.7),
    ),
}


def make_run(out: Path, train: dict, build: dict) -> Path:
    from fewerbits.core.config import BuildConfig, RunConfig, TrainConfig
    from fewerbits.pipeline import run

    if not BuildDir(out / "build").model_after(S.HW_CODEGEN).is_file():
        cfg = RunConfig(train=TrainConfig(**train), build=BuildConfig(**build), verify_samples=100)
        run(cfg, out, progress=False)
    return out


def finn_execute_onnx_fps(dataflow, xin: np.ndarray) -> tuple[float, float]:
    """Frames per wall / per CPU second of qonnx/FINN ``execute_onnx`` on the dataflow graph
    (nodes as base types)."""
    import copy

    from fewerbits.hw.rtlsim.sim import base_copy
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    m = ModelWrapper(copy.deepcopy(dataflow.model))
    for i, n in enumerate(list(m.graph.node)):
        m.graph.node.remove(n)
        m.graph.node.insert(i, base_copy(n))
    iname, oname = m.graph.input[0].name, m.graph.output[0].name
    shape = m.get_tensor_shape(iname)
    t0, c0 = time.time(), time.process_time()
    for i in range(len(xin)):
        execute_onnx(m, {iname: xin[i : i + 1].reshape(shape)})[oname]
    return len(xin) / (time.time() - t0), len(xin) / (time.process_time() - c0)


def rtl_bench(run_dir: Path, xin: np.ndarray, simulator: str) -> dict:
    """Stitched simulation of partition inputs ``xin`` with back end ``simulator``: a cold
    build (fresh cache), a cached one, then one timed run of every frame."""
    from fewerbits.hw.rtlsim.sim import Stitched

    frames = len(xin)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FEWERBITS_CACHE"] = cache
        st = Stitched(run_dir / "build", simulator=simulator)
        cold = st.compile()
        st.binary = None
        warm_t0 = time.time()
        warm = st.compile()
        warm_s = time.time() - warm_t0
        t0, c0 = time.time(), time.process_time()
        out_rtl = st.run_dataflow(xin)
        rtl_s = time.time() - t0
        # end to end in CPU time: this process (packing) plus the simulation process
        rtl_cpu = time.process_time() - c0 + st.last.cpu_seconds
        timing = st.timing()
        cycles, sim_s, sim_cpu = st.last.cycles, st.last.seconds, st.last.cpu_seconds
    return {
        "simulator": simulator,
        "out": out_rtl,
        "rtl_fps": frames / rtl_s,
        "rtl_cpu_fps": frames / rtl_cpu,
        "rtl_sim_only_fps": frames / sim_s,
        "rtl_sim_only_cpu_fps": frames / sim_cpu,
        "sim_cycles": cycles,
        "sim_cycles_per_wall_s": cycles / sim_s,
        "sim_cycles_per_cpu_s": cycles / sim_cpu,
        "build_cold_s": cold.build_seconds,
        "build_cached_s": round(warm_s, 2),
        "cache_hit": warm.cache_hit,
        "cycles_per_frame": timing["cycles_per_frame"],
        "latency_cycles": timing["latency_cycles"],
    }


def bench(run_dir: Path, frames: int, py_frames: int, simulators: list[str]) -> dict:
    from fewerbits.hw.build.report import finn_performance
    from fewerbits.hw.rtlsim.sim import BuildGraphs, python_exec
    from fewerbits.train.datasets import load_dataset
    from qonnx.custom_op.registry import getCustomOp

    x = load_dataset("mnist-5k").x_test.astype(np.float32)
    x = np.concatenate([x] * (frames // len(x) + 1))[:frames]
    graphs = BuildGraphs(run_dir / "build")
    # partition inputs for all frames (software pre-processing is not timed)
    first = getCustomOp(graphs.nodes[0])
    xin = graphs.run_with(x, lambda _m: None).reshape(frames, *first.get_normal_input_shape()[1:])
    t0, c0 = time.time(), time.process_time()
    cur = xin[:py_frames]
    for n in graphs.nodes:
        cur = python_exec(
            graphs.dataflow,
            n,
            cur.reshape(len(cur), *getCustomOp(n).get_normal_input_shape()[1:]),
        )
    py_s, py_cpu = time.time() - t0, time.process_time() - c0
    finn_fps, finn_cpu_fps = finn_execute_onnx_fps(graphs.dataflow, xin[:py_frames])
    est = finn_performance(BuildDir(run_dir / "build"))
    folding = {}
    for n in graphs.nodes:  # the folding the build ended with (PE / SIMD per layer)
        attrs = getCustomOp(n).get_nodeattr_types()
        folding[n.name] = {k: getCustomOp(n).get_nodeattr(k) for k in ("PE", "SIMD") if k in attrs}
    row = {
        "layers": len(graphs.nodes),
        "ops": sorted({n.op_type for n in graphs.nodes}),
        "folding": {k: v for k, v in folding.items() if v},
        "frames": frames,
        "python_frames": py_frames,
        "python_fps": py_frames / py_s,
        "python_cpu_fps": py_frames / py_cpu,
        "finn_execute_onnx_fps": finn_fps,
        "finn_execute_onnx_cpu_fps": finn_cpu_fps,
        "estimate_cycles_per_frame": est["cycles_per_frame"],
        "estimate_latency_cycles": est["latency_cycles"],
        "rtl": {},
    }
    ref = None
    for sim in simulators:
        print(f"[bench]   {sim}", file=sys.stderr, flush=True)
        r = rtl_bench(run_dir, xin, sim)
        out = r.pop("out").reshape(frames, -1)
        exact = np.all(cur.reshape(py_frames, -1) == out[:py_frames], axis=1).sum()
        r["python_vs_rtl_exact"] = f"{int(exact)}/{py_frames}"
        if ref is None:
            ref = (sim, out, r["sim_cycles"])
        else:  # every frame and the cycle count against the first simulator's
            r["same_as"] = ref[0]
            r["same_outputs_all_frames"] = bool(np.array_equal(out, ref[1]))
            r["same_cycles"] = r["sim_cycles"] == ref[2]
        r["ratio"] = r["cycles_per_frame"] / est["cycles_per_frame"]
        r["speedup"] = r["rtl_fps"] / row["python_fps"]
        r["speedup_cpu"] = r["rtl_cpu_fps"] / row["python_cpu_fps"]
        r["speedup_vs_execute_onnx"] = r["rtl_fps"] / finn_fps
        r["speedup_vs_execute_onnx_cpu"] = r["rtl_cpu_fps"] / finn_cpu_fps
        row["rtl"][sim] = r
    return row


#: the back ends every run compares: FINN's own MAC model first (what the verification levels
#: run), then the cheaper behavioural MAC model (hw/sim/verilator/fastmac.py)
SIMULATORS = ["verilator", "verilator-fastmac"]


def table(rows: dict) -> list[str]:
    head = (
        "| network | cycles/frame (FINN est.) | ratio | simulator (MAC model) "
        "| FINN execute_onnx fps | lean per-node Python fps | Verilator fps "
        "| vs execute_onnx | vs lean loop | sim-only fps | simulated cycles/s "
        "| build cold / cached s | latency cycles (FINN est.) | Python==RTL | same as FINN model |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for name, row in rows.items():
        for sim, r in row["rtl"].items():
            model = "FINN mvu.sv" if sim == "verilator" else "fastmac" if "fastmac" in sim else sim
            same = (
                "-"
                if "same_as" not in r
                else f"{'yes' if r['same_outputs_all_frames'] and r['same_cycles'] else 'NO'}"
            )
            lines.append(
                f"| {name} | {r['cycles_per_frame']:.0f} ({row['estimate_cycles_per_frame']}) "
                f"| {r['ratio']:.3f} | {sim} ({model}) "
                f"| {row['finn_execute_onnx_fps']:,.0f} ({row['finn_execute_onnx_cpu_fps']:,.0f}) "
                f"| {row['python_fps']:,.0f} ({row['python_cpu_fps']:,.0f}) "
                f"| {r['rtl_fps']:,.0f} ({r['rtl_cpu_fps']:,.0f}) "
                f"| {r['speedup_vs_execute_onnx']:.1f}x ({r['speedup_vs_execute_onnx_cpu']:.1f}x) "
                f"| {r['speedup']:.2f}x ({r['speedup_cpu']:.2f}x) "
                f"| {r['rtl_sim_only_fps']:,.0f} ({r['rtl_sim_only_cpu_fps']:,.0f}) "
                f"| {r['sim_cycles_per_wall_s'] / 1e6:.2f} M ({r['sim_cycles_per_cpu_s'] / 1e6:.2f} M) "
                f"| {r['build_cold_s']:.0f} / {r['build_cached_s']:.1f} "
                f"| {r['latency_cycles']} ({row['estimate_latency_cycles']}) "
                f"| {r['python_vs_rtl_exact']} | {same} |"
            )
    return lines


def plot(rows: dict, path: Path) -> None:
    """Frames per CPU second of every executor, one group of bars per network (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    series = [("FINN execute_onnx", lambda r: r["finn_execute_onnx_cpu_fps"])]
    series.append(("lean per-node Python loop", lambda r: r["python_cpu_fps"]))
    for sim in next(iter(rows.values()))["rtl"]:
        series.append((sim, lambda r, sim=sim: r["rtl"][sim]["rtl_cpu_fps"]))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(series)
    for k, (label, get) in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(names))]
        ax.bar(xs, [get(rows[n]) for n in names], width, label=label)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=8)
    ax.set_ylabel("frames per CPU second (log)")
    ax.set_title("Stitched Verilator model vs FINN's Python execution, same graph")
    ax.legend(fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=2000)
    p.add_argument("--python-frames", type=int, default=100)
    p.add_argument("--out", default="runs/bench-sim")
    p.add_argument(
        "--simulator",
        action="append",
        choices=backend_names(),
        help=f"back end to time (repeatable; default {' and '.join(SIMULATORS)})",
    )
    p.add_argument("--nets", help="comma list of net folders to run (default: all)")
    p.add_argument("--replot", action="store_true", help="only redraw DIR/simulation.png")
    a = p.parse_args()
    out = Path(a.out)
    if a.replot:
        plot(json.loads((out / "simulation.json").read_text())["nets"], out / "simulation.png")
        return 0
    sims = a.simulator or SIMULATORS
    only = set(a.nets.split(",")) if a.nets else None
    rows = {}
    load = os.getloadavg()[0]
    for name, (folder, train, build) in NETS.items():
        if only and folder not in only:
            continue
        print(f"[bench] {name}", file=sys.stderr, flush=True)
        run_dir = make_run(out / folder, train, build)
        rows[name] = bench(run_dir, a.frames, a.python_frames, sims)
    print(
        f"{a.frames} RTL frames, {a.python_frames} Python frames; "
        f"load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )
    print("\n".join(table(rows)))
    print("rates per wall second (per CPU second in parentheses)")
    out.mkdir(parents=True, exist_ok=True)
    meta = {"load_start": load, "load_end": os.getloadavg()[0], "date": time.strftime("%F")}
    (out / "simulation.json").write_text(json.dumps({"run": meta, "nets": rows}, indent=2) + "\n")
    plot(rows, out / "simulation.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
