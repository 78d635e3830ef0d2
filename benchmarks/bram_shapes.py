"""Block RAM of weight memories: what Yosys maps, what hw/costs.py charges, what FINN estimates.

Two tables (``--out`` JSON + markdown, default ``benchmarks/results/bram_shapes.*``):

1. memory shapes: a memstream-like memory (FINN's ``memstream.sv`` core: one port, a write
   and a registered read through the same address, ``$readmemh`` random contents), depth x
   width, synthesized by Yosys (``synth_xilinx -family xc7``): RAMB36E1 / RAMB18E1 / LUTRAM
   cells against :func:`hw.costs.bram36_for_memory` (7-series aspect ratios) and
   :func:`hw.costs.memory_in_lutram` (Yosys' LUTRAM-or-BRAM choice);
2. real layers: every MVAU point of the shipped calibration (``hw/data/cost_calibration_xc7.json``,
   one-node syntheses of real layers, CNV-w2a2's at the folding ``--fit`` picks): Yosys'
   BRAM36 against FINN's ``bram_estimation``, the calibrated model, and the model of the
   first calibration (``1.122807 * FINN's BRAM18`` on memories deeper than 256 words).

    nice .venv/bin/python benchmarks/bram_shapes.py [--shapes 512x36,50176x8] [--out FILE]
        [--reuse-shapes EARLIER.json]   # only re-read the calibration's layers
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from fewerbits.hw import costs
from fewerbits.hw.synth import SynthJob, get_synth_backend

HERE = Path(__file__).resolve().parent
#: shapes: FINN's folding of CNV-w2a2 and TFC-w2a2 layers (padded to whole bytes) and the
#: LUTRAM/BRAM boundary
SHAPES = (
    "50176x8,4096x8,784x128,98x1024,768x192,1024x288,12288x48,16384x72,32768x8,65536x8,"
    "36864x8,1728x8,2560x8,128x576,72x512,144x128,192x64,256x64,128x64,64x64,36x256,256x8"
)
#: the first calibration's MVAU_rtl block RAM: 1.122807 BRAM36 per FINN BRAM18, on weight
#: memories deeper than 256 words (hw/costs.py before 2026-12-02's recalibration)
OLD_COEF, OLD_DEPTH = 1.122807, 256


def memory_source(depth: int, width: int) -> str:
    """A memstream-like memory: one address for the write and the registered read."""
    aw = max(1, int(np.ceil(np.log2(depth))))
    return f"""module memprobe(input logic clk, input logic we, input logic [{width - 1}:0] wd,
  input logic [{aw - 1}:0] addr, output logic [{width - 1}:0] q);
  (* ram_style = "auto" *) logic [{width - 1}:0] Mem[{depth}];
  initial $readmemh("m.dat", Mem);
  logic [{width - 1}:0] d2, d3;
  always_ff @(posedge clk) begin if(we) Mem[addr] <= wd; d2 <= Mem[addr]; d3 <= d2; end
  assign q = d3;
endmodule
"""


def probe(depth: int, width: int) -> dict:
    """Yosys' cells for one memory shape (random contents)."""
    rng = np.random.default_rng(depth * 7919 + width)
    nd = (width + 3) // 4
    with tempfile.TemporaryDirectory(prefix="fb-bram-") as tmp:
        dat = Path(tmp) / "m.dat"
        words = rng.integers(0, 16, (depth, nd))
        dat.write_text("\n".join("".join(f"{v:x}" for v in w) for w in words) + "\n")
        res = get_synth_backend().synthesize(
            SynthJob(
                "memprobe",
                {"memprobe.sv": memory_source(depth, width)},
                "memprobe",
                "xc7",
                data_files={"m.dat": dat},
            ),
            Path(tmp) / "w",
        )
    r = res.resources
    lutram = costs.memory_in_lutram(depth, width)
    return {
        "depth": depth,
        "width": width,
        "yosys": {"RAMB36": r["BRAM36"], "RAMB18": r["BRAM18"], "LUTRAM": r["LUTRAM"]},
        "yosys_bram36": r["BRAM36"] + r["BRAM18"] / 2,
        "model_lutram": lutram,
        "model_bram36": 0.0 if lutram else costs.bram36_for_memory(depth, width),
        "seconds": res.seconds,
    }


def layer_rows(table: dict) -> list[dict]:
    """The calibration's MVAU points: Yosys, FINN, this model and the first calibration's."""
    rows = []
    for op in ("MVAU_rtl", "MVAUBinary_rtl"):
        m = table["ops"].get(op)
        if not m:
            continue
        model = costs.OpModel(op, {r: (v[0], v[1]) for r, v in m["terms"].items()})
        for p in m["measured"]:
            mem = p.get("memory") or {}
            deep = mem.get("depth", OLD_DEPTH + 1) > OLD_DEPTH
            rows.append(
                {
                    "op": op,
                    "layer": p["node"],
                    "folding": p["folding"],
                    "memory": mem,
                    "yosys_bram36": p["synth"]["brams"],
                    "finn_bram36": p["finn"]["brams"],
                    "model_bram36": round(model.predict(p["features"])["brams"], 2),
                    "old_model_bram36": round(OLD_COEF * p["features"]["finn_bram"], 2)
                    if op == "MVAU_rtl" and deep
                    else None,
                }
            )
    return rows


def markdown(res: dict) -> str:
    lines = [
        f"# Weight-memory block RAM ({res['date']}, `benchmarks/bram_shapes.py`, {res['command']})",
        "",
        "Memory shapes (memstream-like: one address for write and registered read, random "
        "contents):",
        "",
        "| depth x width | Yosys RAMB36 / RAMB18 / LUTRAM LUTs | Yosys BRAM36 | hw/costs.py "
        "BRAM36 | agree |",
        "|---|---|---:|---:|---|",
    ]
    for s in res["shapes"]:
        y = s["yosys"]
        model = "LUTRAM" if s["model_lutram"] else f"{s['model_bram36']:g}"
        ok = s["model_bram36"] == s["yosys_bram36"] and s["model_lutram"] == (y["LUTRAM"] > 0)
        lines.append(
            f"| {s['depth']} x {s['width']} | {y['RAMB36']} / {y['RAMB18']} / {y['LUTRAM']} "
            f"| {s['yosys_bram36']:g} | {model} | {'yes' if ok else 'no'} |"
        )
    lines += [
        "",
        "Real layers (one-node Yosys syntheses of the shipped calibration; "
        "`[--fit]`: CNV-w2a2 at the folding `--fit 0.7 --cost-model finn` picks):",
        "",
        "| layer | folding | memory depth x width | Yosys BRAM36 | FINN BRAM36 | model BRAM36 "
        "| first calibration BRAM36 |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in res["layers"]:
        mem = r["memory"]
        shape = f"{mem['depth']} x {mem['width']}" if mem else "–"
        fold = " ".join(f"{k}{v}" for k, v in r["folding"].items())
        old = "–" if r["old_model_bram36"] is None else f"{r['old_model_bram36']:g}"
        lines.append(
            f"| {r['layer']} | {fold} | {shape} | {r['yosys_bram36']:g} | {r['finn_bram36']:g} "
            f"| {r['model_bram36']:g} | {old} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default=SHAPES, help="comma-separated DEPTHxWIDTH")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "bram_shapes.json")
    ap.add_argument(
        "--reuse-shapes",
        type=Path,
        default=None,
        help="take the memory-shape rows from this earlier result instead of synthesizing",
    )
    a = ap.parse_args()
    try:
        shapes = [tuple(int(v) for v in s.lower().split("x")) for s in a.shapes.split(",")]
        assert all(len(s) == 2 and min(s) > 0 for s in shapes)
    except (ValueError, AssertionError):
        sys.exit(f"--shapes {a.shapes}: give DEPTHxWIDTH,... with positive integers")
    t0 = time.time()
    rows = json.loads(a.reuse_shapes.read_text())["shapes"] if a.reuse_shapes else []
    for d, w in [] if a.reuse_shapes else shapes:
        rows.append(probe(d, w))
        s = rows[-1]
        print(
            f"  {d:>6} x {w:<5} Yosys {s['yosys']} -> BRAM36 {s['yosys_bram36']:g}; model "
            f"{'LUTRAM' if s['model_lutram'] else s['model_bram36']} ({s['seconds']:.0f} s)",
            flush=True,
        )
    table = json.loads(costs.CALIBRATION_FILE.read_text())
    res = {
        "date": datetime.date.today().isoformat(),
        "command": "synth_xilinx -family xc7",
        "seconds": round(time.time() - t0, 1),
        "shapes": rows,
        "layers": layer_rows(table),
        "calibration_date": table["meta"]["date"],
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    md = markdown(res)
    a.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
