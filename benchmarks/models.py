"""Bring-your-own-model benchmark: models nobody here wrote through export, build and verify.

For every factory of benchmarks/external_models.py: `fewerbits export` (check inputs: random
UINT8 pixels), `fewerbits build --fit FRACTION` (Pynq-Z1, until codegen) and `fewerbits verify`
on N random UINT8 inputs (rtl_nodes left out: minutes per model). Prints one table row per
model and writes RESULTS/NAME.json and RESULTS/NAME.md (NAME: --name, default models):

    model | feature | export | build (FPS/LUT/BRAM/DSP) | verify levels
          | rtl_stitched cycles/frame / FINN est. | date | seconds

    .venv/bin/python benchmarks/models.py [--only tfc_1w1a,default_mlp] [--samples 20]
        [--name models-rtl --merge]   # re-run some rows of an existing table
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from external_models import BOARDS, MODELS  # noqa: E402
from fewerbits.export.exporter import export  # noqa: E402
from fewerbits.hw.build import build  # noqa: E402

from fewerbits.core.artifacts import BuildDir, ExportDir  # noqa: E402
from fewerbits.core.config import BuildConfig  # noqa: E402
from fewerbits.verify import verify_directory  # noqa: E402

HERE = Path(__file__).resolve().parent


def _reused_build(build_dir: BuildDir):
    """A finished build in ``build_dir`` read back as build()'s result (``--reuse``)."""
    from types import SimpleNamespace

    from fewerbits.hw.build.report import implementations, read_estimates
    from qonnx.core.modelwrapper import ModelWrapper

    from fewerbits.compat.finn.env import prepare_finn

    prepare_finn(build_dir.path / "finn")
    last = build_dir.intermediate / "step_hw_codegen.onnx"
    info = {"implementations": implementations(ModelWrapper(str(last)))}
    return SimpleNamespace(estimates=read_estimates(build_dir), info=info)


def run_model(
    name: str,
    out: Path,
    fit: float,
    samples: int,
    reuse: bool = False,
    skip: tuple[str, ...] = ("rtl_nodes",),
    cost_model: str = "synth",
) -> dict:
    """One row: each stage's outcome (errors are recorded, the benchmark goes on). ``reuse``:
    an export and a finished build already in OUT/NAME are read back, not made again (a
    ResNet-18 build takes over half an hour on 2 loaded cores)."""
    shape, feature = MODELS[name]
    row: dict = {"model": name, "feature": feature, "export": None, "build": None}
    row["date"] = datetime.date.today().isoformat()
    row["cost_model"] = cost_model
    row["board"] = BOARDS.get(name, "Pynq-Z1")
    t0 = time.time()
    export_dir, build_dir = ExportDir(out / name / "export"), BuildDir(out / name / "build")
    try:
        if reuse and export_dir.exists():
            info = export_dir.read_info()
        else:
            info = export(
                {"factory": f"{HERE / 'external_models.py'}:{name}"}, export_dir.path, shape
            )
        check = info["verification"][0]
        row["export"] = f"{check['status']} ({check['bit_exact']}/{check['samples']} bit-exact)"
        if check.get("resolved_samples"):
            row["export"] += f", {len(check['resolved_samples'])} resolved float32 ties"
        board = {"board": BOARDS[name]} if name in BOARDS else {}
        cfg = BuildConfig(fit=fit, cost_model=cost_model, **board)
        if reuse and build_dir.exists():
            res = _reused_build(build_dir)
        else:
            res = build(export_dir.model, build_dir.path, cfg, progress=False)
        est = res.estimates
        row["build"] = {k: est.get(k) for k in ("fps", "luts", "brams", "dsps", "urams")}
        row["implementations"] = sorted(set(res.info.get("implementations", {}).values()))
        x = np.random.default_rng(0).integers(0, 256, (samples, *shape)).astype(np.float32)
        np.save(out / name / "x.npy", x)
        ver = verify_directory(
            build_dir.path,
            out / name / "x.npy",
            progress=False,
            skip=skip,
            export_dir=export_dir.path,
        )
        row["verify"] = {lv["name"]: lv["status"] for lv in ver["levels"]}
        row["verify_reasons"] = {lv["name"]: lv.get("reason") for lv in ver["levels"]}
        row["verify_summary"] = ver["summary"]
        st = (ver.get("rtl") or {}).get("rtl_stitched") or {}
        if st.get("cycles_per_frame"):
            keys = ("frames", "bit_exact", "cycles_per_frame", "estimate_cycles_per_frame")
            row["rtl_stitched"] = {k: st.get(k) for k in (*keys, "estimate_ratio")}
    except Exception as e:  # noqa: BLE001 - a failing model is a row, not the end
        row["error"] = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        row["traceback"] = traceback.format_exc(limit=4)
    row["seconds"] = round(time.time() - t0, 1)
    return row


def _cell(row: dict) -> tuple[str, str, str]:
    b = row.get("build")
    build_cell = (
        f"{b['fps']:,.0f} FPS / {b['luts']:,.0f} LUT / {b['brams']:g} BRAM / {b['dsps']:g} DSP"
        + (f" / {b['urams']:g} URAM" if b.get("urams") else "")
        if b
        else "–"
    )
    levels = row.get("verify") or {}
    passed = [k for k, v in levels.items() if v == "pass"]
    failed = [k for k, v in levels.items() if v == "fail"]
    ver = f"{len(passed)} pass" + (f", FAIL: {', '.join(failed)}" if failed else "")
    if "error" in row:
        ver = f"error: {row['error']}"
    return row.get("export") or "–", build_cell, ver if levels or "error" in row else "–"


def _cycles(row: dict) -> str:
    """rtl_stitched cycles/frame, FINN's estimate and their ratio (or –)."""
    st = row.get("rtl_stitched")
    if not st:
        return "–"
    est = st.get("estimate_cycles_per_frame")
    if not est:
        return f"{st['cycles_per_frame']:,.0f}"
    return f"{st['cycles_per_frame']:,.0f} / {est:,.0f} ({st['estimate_ratio']:.2f}x)"


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        f"# External models ({meta['date']}, {meta['machine']})",
        "",
        f"`benchmarks/models.py --fit {meta['fit']} --samples {meta['samples']}`; "
        f"random weights; verification on random UINT8 inputs; {meta.get('skip', 'rtl_nodes')} "
        "left out.",
        "",
        "| model | feature | export | build (FPS/LUT/BRAM/DSP[/URAM]) | verify levels "
        "| rtl_stitched cycles/frame / FINN est. | date, --fit cost model | seconds |",
        "|---|---|---|---|---|---|---|---:|",
    ]
    for r in rows:
        exp, b, ver = _cell(r)
        lines.append(
            f"| {r['model']} | {r['feature']} | {exp} | {b} | {ver} | {_cycles(r)} "
            f"| {r.get('date', meta['date'])}, {r.get('cost_model', 'synth')} | {r['seconds']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="comma-separated factory names")
    ap.add_argument("--fit", type=float, default=0.7)
    ap.add_argument("--cost-model", default="synth", choices=("synth", "finn"))
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--out", default="runs/bench_models")
    ap.add_argument("--results", default=str(HERE / "results"))
    ap.add_argument("--reuse", action="store_true", help="read back exports/builds in --out")
    ap.add_argument("--skip", default="rtl_nodes", help="verification levels left out")
    ap.add_argument("--name", default="models", help="result files NAME.json / NAME.md")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the rows of NAME.json for models not run now (each row has its date)",
    )
    a = ap.parse_args()
    names = a.only.split(",") if a.only else list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        sys.exit(f"--only {','.join(unknown)}: unknown; models are {', '.join(MODELS)}")
    out = Path(a.out)
    rows = []
    for name in names:
        print(f"[models] {name} ...", flush=True)
        skip = tuple(a.skip.split(","))
        rows.append(run_model(name, out, a.fit, a.samples, a.reuse, skip, a.cost_model))
        print("  " + " | ".join(_cell(rows[-1])), flush=True)
    meta = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "fit": a.fit,
        "samples": a.samples,
        "skip": a.skip,
    }
    res = Path(a.results)
    res.mkdir(parents=True, exist_ok=True)
    old = res / f"{a.name}.json"
    if a.merge and old.is_file():
        new, before = {r["model"]: r for r in rows}, json.loads(old.read_text())
        for r in before["rows"]:
            r.setdefault("date", before["meta"]["date"])
        rows = [new.pop(r["model"], r) for r in before["rows"]] + list(new.values())
    (res / f"{a.name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    (res / f"{a.name}.md").write_text(markdown(rows, meta))
    print(markdown(rows, meta))


if __name__ == "__main__":
    main()
