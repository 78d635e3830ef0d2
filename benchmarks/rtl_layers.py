"""fewerbits' RTL layer library (hw/rtl_lib): node-level and whole-net numbers for the docs.

Node level: fixed configurations of each layer, built as FINN builds them (the build's
implementation-style rule, FINN's PrepareIP), simulated on Verilator without stalls (steady
state) and with random stalls; bit-exactness vs FINN's Python execution, measured cycles per
frame vs ``get_exp_cycles``, and the op's resource estimates.
Nets: for each ``--net NAME=RUN_DIR`` (a folder with ``build/`` and ``x.npy``), the stitched
accelerator vs FINN's folded graph (exact) and vs FINN's cycle estimate, and its layer types.

    .venv/bin/python benchmarks/rtl_layers.py [--net tfc-w1a1=DIR ...] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import rtlsim_graphs as rg  # noqa: E402 - the node graphs the tests use
from fewerbits.hw.build import impl_style  # noqa: E402
from fewerbits.hw.rtlsim.sim import BuildGraphs, simulate_node  # noqa: E402

from fewerbits.compat.finn.env import prepare_finn  # noqa: E402
from fewerbits.core.artifacts import BuildDir  # noqa: E402
from fewerbits.verify.levels.finn_graphs import FoldedHwGraphLevel  # noqa: E402
from fewerbits.verify.levels.rtl import RtlStitchedLevel  # noqa: E402

#: (label, graph builder, rng seed) -- fixed configurations
NODE_CASES = [
    ("MVAUBinary_rtl popcount", lambda r: rg.mvau_binary(r, thresholds=False), 4),
    ("MVAUBinary_rtl thresholds", lambda r: rg.mvau_binary(r, thresholds=True), 5),
    ("MVAUBinary_rtl thresholds", lambda r: rg.mvau_binary(r, thresholds=True), 7),
    ("MaxPool_rtl", rg.maxpool, 4),
    ("LabelTopK_rtl", rg.label_select, 4),
    ("DuplicateStreams_rtl", rg.duplicate_streams, 4),
    ("AddStreams_rtl", lambda r: rg.add_streams(r, signed=True), 4),
    ("MulConst_rtl", rg.mul_const, 4),
    (
        "MVAUBinary_rtl as CNV-w1a1 layer 2 (3,028 FPS folding)",
        lambda r: rg.mvau_binary(r, True, dict(mw=576, mh=64, simd=36, pe=32, vecs=[1, 28, 28])),
        1,
    ),
]


def node_numbers(work: Path) -> list[dict]:
    prepare_finn(work)
    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.general import GiveUniqueNodeNames

    rows = []
    for k, (label, make, seed) in enumerate(NODE_CASES):
        model, part, desc = make(np.random.default_rng(seed))
        model = impl_style.route_to_rtl_lib(model).transform(GiveUniqueNodeNames())
        model = model.transform(PrepareIP(part, rg.CLK_NS))
        node = model.graph.node[0]
        inst = getCustomOp(node)
        frames = 3 if inst.get_exp_cycles() > 10_000 else 8
        steady = simulate_node(model, node, work / f"s{k}", frames=frames, stall=(0, 0), seed=seed)
        stalled = simulate_node(
            model, node, work / f"t{k}", frames=frames, stall=(40, 40), seed=seed
        )
        rows.append(
            {
                "layer": label,
                "config": desc,
                "part": part,
                "exact": f"{steady.exact}/{steady.outputs}, stalls {stalled.exact}/{stalled.outputs}",
                "cycles_per_frame": steady.cycles_per_frame,
                "exp_cycles": int(inst.get_exp_cycles()),
                "lut_estimate": int(inst.lut_estimation(part)),
                "bram36_estimate": float(inst.bram_estimation(part)) / 2
                if node.op_type.startswith("MVAU")
                else 0.0,
                "verilator_build_s": steady.build_seconds,
            }
        )
        print(rows[-1], flush=True)
    return rows


def net_numbers(name: str, run_dir: Path) -> dict:

    x = np.load(run_dir / "x.npy")
    build = BuildDir(run_dir / "build")
    stitched = RtlStitchedLevel(None, build)
    y_rtl = stitched.run(x)
    y_finn = FoldedHwGraphLevel(None, build).run(x)
    same = np.all(y_rtl.reshape(len(x), -1) == y_finn.reshape(len(x), -1), axis=1)
    n = stitched.numbers(None)
    return {
        "net": name,
        "layers": sorted({nd.op_type for nd in BuildGraphs(build.path).nodes}),
        "frames": len(x),
        "exact_vs_finn_folded_graph": int(same.sum()),
        "cycles_per_frame": n.get("cycles_per_frame"),
        "finn_estimate_cycles_per_frame": n.get("estimate_cycles_per_frame"),
        "latency_cycles": n.get("latency_cycles"),
        "finn_estimate_latency_cycles": n.get("estimate_latency_cycles"),
        "verilator_build_s": n.get("build_seconds"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", action="append", default=[], help="NAME=RUN_DIR")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-rtl-layers.json"))
    ap.add_argument("--only", default=None, help="comma-separated layer labels (default: all)")
    a = ap.parse_args()
    if a.only:
        NODE_CASES[:] = [c for c in NODE_CASES if c[0] in a.only.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "date": datetime.date.today().isoformat(),
            "nodes": node_numbers(Path(tmp)),
            "nets": [
                net_numbers(*spec.split("=", 1)[:1], Path(spec.split("=", 1)[1])) for spec in a.net
            ],
        }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["nets"], indent=1))


if __name__ == "__main__":
    main()
