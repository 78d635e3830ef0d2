"""FINN's own target_fps search vs `fewerbits build --fit` on the same models (xc7z020, 100 MHz).

Table 1 -- for TFC and CNV (random-weight BNN-PYNQ topologies) at w1a1 and w2a2: each model is
taken to FINN's specialize_layers stage with fewerbits' flow (RTL preferred, identity input
thresholds removed), then folded (a) by FINN's SetFolding at 49 log-spaced FPS targets, keeping
the fastest result within the budget, and (b) by hw/folding.py's fit_folding. Both are judged
by FINN's estimates (``--cost-model finn``), as before.

Table 2 -- the RTL layer library (issue 14): Brevitas' own BNN-PYNQ CNV-w1a1 and TFC-w1a1
(``brevitas_examples``, random weights), built as FINN would build them (``--impl-style auto``:
MVAU_hls/Pool_hls, FINN's estimates, ``--fit``) and all-RTL (``--impl-style rtl``:
MVAUBinary_rtl, MaxPool_rtl, ...; ``--fit`` with the Yosys-calibrated ``synth`` cost model,
hw/costs.py), in one run: FPS, resources by the budget's cost model (and FINN's), the ratio,
and for a missed target the layer that binds (the bottleneck) and the resource at the budget.

    .venv/bin/python benchmarks/folding.py [--fit 0.7] [--out runs/bench_folding] [--only rtl]
        [--check-synth N]   # Yosys on the N largest calibrated layers of each all-RTL folding

``--check-synth`` tests the cost model where the fit used it: each of those layers, at the
folding the fit chose, synthesized by Yosys like a calibration point (hw/costs.measure,
cached), beside the calibrated estimate the budget counted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from external_models import MODELS, bnn_pynq  # noqa: E402
from fewerbits.export.exporter import export_qonnx  # noqa: E402
from fewerbits.hw.boards import get_board  # noqa: E402
from fewerbits.hw.build import build  # noqa: E402
from fewerbits.hw.build.finn_config import dataflow_config  # noqa: E402
from nets import export_net  # noqa: E402

from fewerbits.core.config import BuildConfig  # noqa: E402

#: Brevitas BNN-PYNQ model -> (factory name in external_models, FPS target of issue 14)
RTL_TARGETS = {"CNV_1W1A": ("cnv_1w1a", 10_000), "TFC_1W1A": ("tfc_1w1a", 1_000_000)}


def _binding(fit: dict, budget: dict) -> str:
    """The resource closest to its budget at the chosen folding (what stops a faster one)."""
    tot = fit["totals"]
    use = {r: tot[r] / budget[r] for r in ("luts", "brams", "dsps") if budget.get(r)}
    r = max(use, key=use.get)
    return f"{r[:-1].upper()} {use[r] * budget['fraction']:.0%} of the part"


def rtl_rows(a, board, out: Path) -> list[dict]:
    """Table 2: per Brevitas model, FINN's HLS-based build vs the all-RTL build."""
    from fewerbits.hw.folding import model_estimates
    from qonnx.core.modelwrapper import ModelWrapper

    rows = []
    for bname, (factory, target) in RTL_TARGETS.items():
        shape = MODELS[factory][0]
        onnx = out / f"brevitas_{factory}.onnx"
        export_qonnx(bnn_pynq(bname), shape, onnx)
        row = {"model": f"Brevitas {bname}", "target_fps": target}
        for variant, impl, cost in (("hls", "auto", "finn"), ("rtl", "rtl", a.cost_model)):
            bdir = out / f"brevitas_{factory}_{variant}"
            t0 = time.time()
            res = build(
                onnx,
                bdir,
                BuildConfig(
                    board=a.board, fit=a.fit, until="estimates", impl_style=impl, cost_model=cost
                ),
                progress=False,
                force=True,
            )
            fit = res.info["fit"]
            final = ModelWrapper(
                str(bdir / "intermediate_models" / "step_generate_estimate_reports.onnx")
            )
            finn = model_estimates(final, board.part, 10.0, "finn")
            ops = sorted(set(res.info.get("implementations", {}).values()))
            row[variant] = {
                "fps": fit["fps"],
                "cycles": fit["cycles"],
                "cost_model": cost,
                "totals": fit["totals"],
                "finn_estimates": {k: finn[k] for k in ("luts", "brams", "dsps")},
                "bottleneck": fit["bottleneck"],
                "binding": _binding(fit, fit["budget"]),
                "layers": ops,
                "seconds": round(time.time() - t0, 1),
            }
            if variant == "rtl" and a.check_synth:
                row[variant]["synth_check"] = synth_check(final, board.part, a.check_synth)
        row["ratio"] = row["rtl"]["fps"] / row["hls"]["fps"]
        row["met"] = row["rtl"]["fps"] >= target
        rows.append(row)
    return rows


def synth_check(model, part: str, n: int) -> list[dict]:
    """The ``n`` layers with the largest calibrated LUT estimate, synthesized at their folding."""
    from fewerbits.hw import costs
    from qonnx.custom_op.registry import getCustomOp

    cm = costs.CostModel("synth")
    est = []
    for node in model.graph.node:
        if node.op_type in cm.table.ops:
            est.append((cm.estimate(getCustomOp(node), part), node))
    out = []
    for e, node in sorted(est, key=lambda t: -t[0][0])[:n]:
        one = costs.single_node_model(model, node)
        got = costs.measure(one, one.graph.node[0], part)
        inst = getCustomOp(node)
        fold = {k: inst.get_nodeattr(k) for k in ("PE", "SIMD") if k in inst.get_nodeattr_types()}
        out.append(
            {
                "node": node.name,
                "folding": fold,
                "estimate": {"luts": round(float(e[0])), "brams": round(float(e[1]), 1)},
                "synth": {k: got[k] for k in ("luts", "brams", "ff")},
                "yosys_seconds": got["seconds"],
            }
        )
        print(f"  synth check {node.name} {fold}: {out[-1]}", flush=True)
    return out


def rtl_table(rows: list[dict]) -> str:
    lines = [
        "| model | build | cost model | FPS | LUT | BRAM36 | DSP | FINN est. LUT/BRAM36/DSP "
        "| bottleneck layer | closest resource | layer types | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for v in ("hls", "rtl"):
            b = r[v]
            t, f = b["totals"], b["finn_estimates"]
            lines.append(
                f"| {r['model']} | {'FINN HLS layers' if v == 'hls' else 'all-RTL'} "
                f"| {b['cost_model']} | {b['fps']:,.0f} | {t['luts']:,.0f} | {t['brams']:g} "
                f"| {t['dsps']:g} | {f['luts']:,.0f} / {f['brams']:g} / {f['dsps']:g} "
                f"| {b['bottleneck']} | {b['binding']} | {', '.join(b['layers'])} | {b['seconds']} |"
            )
    lines += ["", "| model | target FPS | all-RTL FPS | ratio all-RTL / FINN HLS | met |"]
    lines.append("|---|---|---|---|---|")
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['target_fps']:,} | {r['rtl']['fps']:,.0f} | {r['ratio']:.2f}x "
            f"| {'yes' if r['met'] else 'NO'} |"
        )
    checks = [(r["model"], c) for r in rows for c in r["rtl"].get("synth_check", [])]
    if checks:
        lines += [
            "",
            "| model | layer (all-RTL folding) | calibrated LUT / BRAM36 | Yosys LUT / BRAM36 | Yosys / calibrated LUT |",
            "|---|---|---|---|---|",
        ]
        for m, c in checks:
            fold = " ".join(f"{k}{v}" for k, v in c["folding"].items())
            e, y = c["estimate"], c["synth"]
            lines.append(
                f"| {m} | {c['node']} {fold} | {e['luts']:,} / {e['brams']:g} "
                f"| {y['luts']:,} / {y['brams']:g} | {y['luts'] / max(e['luts'], 1):.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fit", type=float, default=0.7)
    ap.add_argument("--board", default="Pynq-Z1")
    ap.add_argument("--out", default="runs/bench_folding")
    ap.add_argument("--cost-model", default="synth", help="the all-RTL builds' cost model")
    ap.add_argument("--only", choices=["zoo", "rtl"], default=None)
    ap.add_argument("--json", default=None, help="write the RTL rows as JSON here")
    ap.add_argument(
        "--check-synth",
        type=int,
        default=0,
        help="synthesize the N largest calibrated layers of each all-RTL folding",
    )
    a = ap.parse_args()
    out = Path(a.out)
    board = get_board(a.board)
    print(
        f"\n{a.board} ({board.part}), 100 MHz, budget {a.fit:.0%} of LUT/BRAM/DSP "
        f"({board.luts * a.fit:,.0f} LUT, {board.brams * a.fit:g} BRAM36, {board.dsps * a.fit:g} DSP)\n"
    )
    if a.only != "zoo":
        rows = rtl_rows(a, board, out)
        print(rtl_table(rows) + "\n", flush=True)
        if a.json:
            import json

            Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")
    if a.only == "rtl":
        return
    rows = []
    for name in ("tfc", "cnv"):
        for w, ab in ((1, 1), (2, 2)):
            onnx = export_net(name, w, ab, out / f"{name}_w{w}a{ab}.onnx")
            bdir = out / f"{name}_w{w}a{ab}"
            t0 = time.time()
            build(
                onnx,
                bdir,
                BuildConfig(board=a.board, fit=a.fit, until="estimates", cost_model="finn"),
                progress=False,
                force=True,
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
