"""Bring-your-own-model benchmark: models nobody here wrote through export, build and verify.

For every factory of benchmarks/external_models.py: `fewerbits export` (check inputs: random
inputs of the model's input datatype, UINT8 pixels unless INPUT_DTYPES says otherwise),
`fewerbits build --fit FRACTION` (the model's board and cost model from BOARDS / COST_MODELS,
until codegen) and `fewerbits verify` on N random inputs of that datatype (rtl_nodes left out:
minutes per model). Prints one table row per model and writes RESULTS/NAME.json and
RESULTS/NAME.md (NAME: --name, default models):

    model | feature | board | export | build (FPS/LUT/BRAM/DSP) | verify levels
          | rtl_stitched cycles/frame / FINN est. | date, cost model, samples | seconds

and under the table, each failing level's or refused stage's one-line reason.

    .venv/bin/python benchmarks/models.py [--only tfc_1w1a,default_mlp] [--samples 20]
        [--name models-rtl --merge]   # re-run some rows of an existing table
    .venv/bin/python benchmarks/models.py --combine models-small,models-resnet18 --name models \
        [--docs docs/benchmarks.md]   # one table from the rows of several runs
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from external_models import BOARDS, COST_MODELS, INPUT_DTYPES, MODELS  # noqa: E402
from fewerbits.export.exporter import export, random_inputs  # noqa: E402
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
    cost_model: str | None = None,
) -> dict:
    """One row: each stage's outcome (errors are recorded, the benchmark goes on). ``reuse``:
    an export and a finished build already in OUT/NAME are read back, not made again (a
    ResNet-18 build takes over half an hour on 2 loaded cores). ``cost_model``: overrides the
    model's COST_MODELS entry (default synth)."""
    shape, feature = MODELS[name]
    cost_model = cost_model or COST_MODELS.get(name, "synth")
    dtype = INPUT_DTYPES.get(name, "UINT8")
    row: dict = {"model": name, "feature": feature, "export": None, "build": None}
    row["date"] = datetime.date.today().isoformat()
    row["cost_model"] = cost_model
    row["board"] = BOARDS.get(name, "Pynq-Z1")
    row["input_dtype"] = dtype
    row["samples"] = samples
    row["skip"] = ",".join(skip)
    t0 = time.time()
    export_dir, build_dir = ExportDir(out / name / "export"), BuildDir(out / name / "build")
    try:
        if reuse and export_dir.exists():
            info = export_dir.read_info()
        else:
            factory = {"factory": f"{HERE / 'external_models.py'}:{name}"}
            info = export(factory, export_dir.path, shape, input_dtype=dtype)
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
        fit_totals = (json.loads(build_dir.report_json.read_text()).get("fit") or {}).get("totals")
        if fit_totals:  # what --fit budgeted with the row's cost model (synth: Yosys-calibrated)
            row["fit_totals"] = {k: fit_totals.get(k) for k in ("luts", "brams", "dsps", "urams")}
        row["implementations"] = sorted(set(res.info.get("implementations", {}).values()))
        x = random_inputs(dtype, shape, samples, seed=0)
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
        row["verify_nodes"] = {lv["name"]: lv["node"] for lv in ver["levels"] if lv.get("node")}
        row["verify_summary"] = ver["summary"]
        st = (ver.get("rtl") or {}).get("rtl_stitched") or {}
        if st.get("cycles_per_frame"):
            keys = ("frames", "bit_exact", "cycles_per_frame", "estimate_cycles_per_frame")
            row["rtl_stitched"] = {k: st.get(k) for k in (*keys, "estimate_ratio")}
    except Exception as e:  # noqa: BLE001 - a failing model is a row, not the end
        row["error"] = f"{type(e).__name__}: {e}".splitlines()[0]
        row["failed_stage"] = (
            "export" if row["export"] is None else "build" if row["build"] is None else "verify"
        )
        row["traceback"] = traceback.format_exc(limit=4)
    row["seconds"] = round(time.time() - t0, 1)
    return row


def _cell(row: dict) -> tuple[str, str, str]:
    b = row.get("build")
    # resources: the --fit cost model's totals (synth: calibrated on Yosys) where the row has
    # them, else FINN's estimates; the table's cost-model column says which
    r = {**(b or {}), **(row.get("fit_totals") or {})}
    build_cell = (
        f"{b['fps']:,.0f} FPS / {r['luts']:,.0f} LUT / {r['brams']:.1f} BRAM / {r['dsps']:,.0f} DSP"
        + (f" / {r['urams']:,.0f} URAM" if r.get("urams") else "")
        if b
        else "–"
    )
    levels = row.get("verify") or {}
    passed = [k for k, v in levels.items() if v == "pass"]
    failed = [k for k, v in levels.items() if v == "fail"]
    ver = f"{len(passed)} pass" + (f", FAIL: {', '.join(failed)}" if failed else "")
    if "error" in row:
        ver = f"refused at {row.get('failed_stage', 'a stage')} (reason below)"
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


def reasons(row: dict) -> list[str]:
    """The row's one-line reasons: a refused stage's error line, each failing level's reason."""
    # the error's pointer to this machine's kept staging folder is no reason
    out = (
        [re.sub(r" \(the failed build is kept in [^)]*\)", "", row["error"])]
        if row.get("error")
        else []
    )
    why_of = row.get("verify_reasons") or {}
    for name, status in (row.get("verify") or {}).items():
        why = (why_of.get(name) or "").strip()
        node = (row.get("verify_nodes") or {}).get(name)
        if status == "fail":
            why = "; ".join(w for w in (why.splitlines()[0] if why else "", node) if w)
            out.append(f"{name}: {why or 'no reason recorded'}")
        elif name == "rtl_stitched" and status == "skipped" and "not requested" not in why:
            out.append(f"{name} skipped: {why}")
    return out


def markdown(rows: list[dict], meta: dict, heading: bool = True) -> str:
    """The table (one row per model, each with its own date, board, cost model and samples)
    and, under it, the one-line reason of every refused stage and failing level."""
    lines = (
        [
            f"# External models ({meta['date']}, {meta['machine']})",
            "",
            f"`benchmarks/models.py {meta.get('command', '')}`".replace(" `", "`") + "; "
            "random weights; verification on random inputs of each model's input datatype; "
            "levels left out per row (`skip`) in the JSON. FPS is FINN's estimate at the "
            "folding `--fit` chose; LUT/BRAM36/DSP/URAM are the totals of the row's `--fit` "
            "cost model (`synth`: calibrated on Yosys syntheses of the layers, xc7; `finn`: "
            "FINN's own estimates). export: `fewerbits export`'s check (qonnx against "
            "PyTorch, 100 samples); `n/100 bit-exact` counts float outputs that are "
            "bit-identical, a pass means the rest are within the float-tail bound derived "
            "from the output scale (float-scale models have few bit-identical outputs).",
            "",
        ]
        if heading
        else []
    )
    lines += [
        "| model | feature | board | export | build (FPS/LUT/BRAM/DSP[/URAM]) | verify levels "
        "| rtl_stitched cycles/frame / FINN est. | date, --fit cost model, samples | seconds |",
        "|---|---|---|---|---|---|---|---|---:|",
    ]
    notes = []
    for r in rows:
        exp, b, ver = _cell(r)
        model = r.get("cost_model", "synth") if r.get("fit_totals") else "FINN estimate"
        when = f"{r.get('date', meta['date'])}, {model}, "
        when += f"{r.get('samples', meta.get('samples'))}"
        lines.append(
            f"| {r['model']} | {r['feature']} | {r.get('board', 'Pynq-Z1')} | {exp} | {b} "
            f"| {ver} | {_cycles(r)} | {when} | {r['seconds']} |"
        )
        notes += [f"- **{r['model']}**: {why}" for why in reasons(r)]
    if notes:
        lines += ["", "Refused or failing, each with its one-line reason:", "", *notes]
    return "\n".join(lines) + "\n"


DOCS_BEGIN = "<!-- benchmarks/models.py table: begin (generated, do not edit) -->"
DOCS_END = "<!-- benchmarks/models.py table: end -->"


def write_docs(docs: Path, rows: list[dict], meta: dict, source: str) -> None:
    """Replace the generated block between DOCS_BEGIN and DOCS_END in ``docs``."""
    text = docs.read_text()
    if DOCS_BEGIN not in text or DOCS_END not in text:
        sys.exit(f"--docs {docs}: no {DOCS_BEGIN!r} ... {DOCS_END!r} block to replace")
    dates = sorted({r.get("date", meta["date"]) for r in rows})
    block = (
        f"{DOCS_BEGIN}\n\nGenerated on {meta['date']} by `benchmarks/models.py {meta['command']}` "
        f"from [{source}](../benchmarks/results/{source}) (runs of {', '.join(dates)}; "
        f"{meta['machine']}).\n\n{markdown(rows, meta, heading=False)}\n{DOCS_END}"
    )
    head, rest = text.split(DOCS_BEGIN, 1)
    docs.write_text(head + block + rest.split(DOCS_END, 1)[1])


def combined(names: list[str], results: Path) -> list[dict]:
    """The rows of RESULTS/NAME.json for each of ``names``, in that order, each keeping the
    date, samples and skipped levels of its run; a model in several runs: its last run."""
    rows: dict[str, dict] = {}
    for name in names:
        f = results / f"{name}.json"
        if not f.is_file():
            sys.exit(f"--combine {name}: {f} not found")
        d = json.loads(f.read_text())
        for r in d["rows"]:
            r.setdefault("date", d["meta"]["date"])
            r.setdefault("samples", d["meta"].get("samples"))
            r.setdefault("skip", d["meta"].get("skip", "rtl_nodes"))
            r["run"] = name
            rows.pop(r["model"], None)
            rows[r["model"]] = r
    order = {m: i for i, m in enumerate(MODELS)}
    return sorted(rows.values(), key=lambda r: order.get(r["model"], len(order)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="comma-separated factory names")
    ap.add_argument("--fit", type=float, default=0.7)
    ap.add_argument(
        "--cost-model",
        default=None,
        choices=("synth", "finn"),
        help="for every model (default: each model's COST_MODELS entry, else synth)",
    )
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
    ap.add_argument(
        "--combine",
        default=None,
        help="run nothing: NAME.json/.md from the rows of these result names (comma-separated)",
    )
    ap.add_argument("--docs", default=None, help="also write the table into this markdown file")
    a = ap.parse_args()
    res = Path(a.results)
    meta = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "command": " ".join(sys.argv[1:]),
    }
    if a.combine:
        rows = combined(a.combine.split(","), res)
    else:
        meta.update(fit=a.fit, samples=a.samples, skip=a.skip)
        names = a.only.split(",") if a.only else list(MODELS)
        unknown = [n for n in names if n not in MODELS]
        if unknown:
            sys.exit(f"--only {','.join(unknown)}: unknown; models are {', '.join(MODELS)}")
        out = Path(a.out)
        rows = []
        skip = tuple(a.skip.split(","))
        for name in names:
            print(f"[models] {name} ...", flush=True)
            rows.append(run_model(name, out, a.fit, a.samples, a.reuse, skip, a.cost_model))
            print("  " + " | ".join(_cell(rows[-1])), flush=True)
        old = res / f"{a.name}.json"
        if a.merge and old.is_file():
            new, before = {r["model"]: r for r in rows}, json.loads(old.read_text())
            for r in before["rows"]:
                r.setdefault("date", before["meta"]["date"])
            rows = [new.pop(r["model"], r) for r in before["rows"]] + list(new.values())
    res.mkdir(parents=True, exist_ok=True)
    (res / f"{a.name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    (res / f"{a.name}.md").write_text(markdown(rows, meta))
    if a.docs:
        write_docs(Path(a.docs), rows, meta, f"{a.name}.json")
    print(markdown(rows, meta))


if __name__ == "__main__":
    main()
