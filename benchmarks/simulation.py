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
                                              [--simulator verilator]

Writes DIR/simulation.json (default runs/bench-sim).
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
from fewerbits.hw.sim import DEFAULT_SIMULATOR, backend_names

from fewerbits.core.artifacts import BuildDir

NETS = {
    "tfc-w2a2 (demo)": dict(model="tfc", epochs=2),
    "sfc-w2a2 (3x256)": dict(model="sfc", epochs=1, max_steps=20),
}


def make_run(out: Path, spec: dict) -> Path:
    from fewerbits.core.config import RunConfig, TrainConfig
    from fewerbits.pipeline import run

    if not BuildDir(out / "build").model_after(S.HW_CODEGEN).is_file():
        run(RunConfig(train=TrainConfig(**spec), verify_samples=100), out, progress=False)
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


def bench(run_dir: Path, frames: int, py_frames: int, simulator: str = DEFAULT_SIMULATOR) -> dict:
    from fewerbits.hw.build.report import finn_performance
    from fewerbits.hw.rtlsim.sim import Stitched, python_exec
    from fewerbits.train.datasets import load_dataset

    x = load_dataset("mnist-5k").x_test.astype(np.float32)
    x = np.concatenate([x] * (frames // len(x) + 1))[:frames]
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FEWERBITS_CACHE"] = cache
        st = Stitched(run_dir / "build", simulator=simulator)
        cold = st.compile()
        st.binary = None
        warm_t0 = time.time()
        warm = st.compile()
        warm_s = time.time() - warm_t0
        mid = []
        st.graphs.run_with(x[:1], lambda m: (mid.append(m), st.run_dataflow(m))[1])
        # partition inputs for all frames (software pre-processing is not timed)
        from qonnx.custom_op.registry import getCustomOp

        first = getCustomOp(st.graphs.nodes[0])
        xin = x.reshape(frames, *first.get_normal_input_shape()[1:])
        t0, c0 = time.time(), time.process_time()
        out_rtl = st.run_dataflow(xin)
        rtl_s = time.time() - t0
        # end to end in CPU time: this process (packing) plus the simulation process
        rtl_cpu = time.process_time() - c0 + st.last.cpu_seconds
        timing = st.timing()
        cycles, sim_s, sim_cpu = st.last.cycles, st.last.seconds, st.last.cpu_seconds
    t0, c0 = time.time(), time.process_time()
    cur = xin[:py_frames]
    for n in st.graphs.nodes:
        cur = python_exec(
            st.graphs.dataflow,
            n,
            cur.reshape(len(cur), *getCustomOp(n).get_normal_input_shape()[1:]),
        )
    py_s, py_cpu = time.time() - t0, time.process_time() - c0
    finn_fps, finn_cpu_fps = finn_execute_onnx_fps(st.graphs.dataflow, xin[:py_frames])
    exact = int(
        np.all(
            cur.reshape(py_frames, -1) == out_rtl[:py_frames].reshape(py_frames, -1), axis=1
        ).sum()
    )
    est = finn_performance(BuildDir(run_dir / "build"))
    return {
        "simulator": simulator,
        "layers": len(st.graphs.nodes),
        "ops": sorted({n.op_type for n in st.graphs.nodes}),
        "frames": frames,
        "rtl_fps": frames / rtl_s,
        "rtl_cpu_fps": frames / rtl_cpu,
        "rtl_sim_only_fps": timing["frames_per_second"],
        "sim_cycles_per_wall_s": cycles / sim_s,
        "sim_cycles_per_cpu_s": cycles / sim_cpu,
        "python_fps": py_frames / py_s,
        "python_cpu_fps": py_frames / py_cpu,
        "finn_execute_onnx_fps": finn_fps,
        "finn_execute_onnx_cpu_fps": finn_cpu_fps,
        "speedup": (frames / rtl_s) / (py_frames / py_s),
        "speedup_vs_execute_onnx": (frames / rtl_s) / finn_fps,
        "speedup_cpu": (frames / rtl_cpu) / (py_frames / py_cpu),
        "speedup_vs_execute_onnx_cpu": (frames / rtl_cpu) / finn_cpu_fps,
        "build_cold_s": cold.build_seconds,
        "build_cached_s": round(warm_s, 2),
        "cache_hit": warm.cache_hit,
        "cycles_per_frame": timing["cycles_per_frame"],
        "estimate_cycles_per_frame": est["cycles_per_frame"],
        "ratio": timing["cycles_per_frame"] / est["cycles_per_frame"],
        "latency_cycles": timing["latency_cycles"],
        "estimate_latency_cycles": est["latency_cycles"],
        "python_vs_rtl_exact": f"{exact}/{py_frames}",
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=2000)
    p.add_argument("--python-frames", type=int, default=100)
    p.add_argument("--out", default="runs/bench-sim")
    p.add_argument("--simulator", default=DEFAULT_SIMULATOR, choices=backend_names())
    a = p.parse_args()
    out = Path(a.out)
    rows = {}
    for name, spec in NETS.items():
        print(f"[bench] {name}", file=sys.stderr, flush=True)
        run_dir = make_run(out / spec["model"], spec)
        rows[name] = bench(run_dir, a.frames, a.python_frames, a.simulator)
    print(f"simulator {a.simulator}, {a.frames} RTL frames, {a.python_frames} Python frames")
    print(
        "| network | layers | FINN execute_onnx fps | lean per-node Python fps | Verilator fps "
        "| Verilator vs execute_onnx | Verilator vs lean loop | simulated cycles/s "
        "| build cold / cached s | cycles/frame (FINN est.) | ratio | latency cycles (FINN est.) "
        "| Python==RTL |"
    )
    print("|" + "---|" * 13)
    for name, r in rows.items():
        print(
            f"| {name} | {r['layers']} "
            f"| {r['finn_execute_onnx_fps']:,.0f} ({r['finn_execute_onnx_cpu_fps']:,.0f}) "
            f"| {r['python_fps']:,.0f} ({r['python_cpu_fps']:,.0f}) "
            f"| {r['rtl_fps']:,.0f} ({r['rtl_cpu_fps']:,.0f}) "
            f"| {r['speedup_vs_execute_onnx']:.1f}x ({r['speedup_vs_execute_onnx_cpu']:.1f}x) "
            f"| {r['speedup']:.2f}x ({r['speedup_cpu']:.2f}x) "
            f"| {r['sim_cycles_per_wall_s'] / 1e6:.2f} M ({r['sim_cycles_per_cpu_s'] / 1e6:.2f} M) "
            f"| {r['build_cold_s']:.0f} / {r['build_cached_s']:.1f} "
            f"| {r['cycles_per_frame']:.0f} ({r['estimate_cycles_per_frame']}) | {r['ratio']:.3f} "
            f"| {r['latency_cycles']} ({r['estimate_latency_cycles']}) | {r['python_vs_rtl_exact']} |"
        )
    print("rates per wall second (per CPU second in parentheses)")
    out.mkdir(parents=True, exist_ok=True)
    (out / "simulation.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
