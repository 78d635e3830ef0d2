"""The merged pooling core (hdl/pool_window.sv) vs the two cores it replaced (pool_max.sv and
pool_avg.sv at git revision 7b14751): the same generated nodes (the synthesis test's graph
makers, seeds 1 and 4), Yosys LUT/FF and whether the cells are identical, xc7 and ecp5.
Prints a table and writes RESULTS/pool_core_merge.json. Needs the git history.

    .venv/bin/python benchmarks/pool_core_merge.py [--results benchmarks/results]
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import rtlsim_graphs as rg  # noqa: E402 - the node graphs the tests use
from fewerbits.hw.build import impl_style  # noqa: E402
from fewerbits.hw.rtlsim import design  # noqa: E402
from fewerbits.hw.synth import SynthJob, get_synth_backend  # noqa: E402

from fewerbits.compat.finn.env import prepare_finn  # noqa: E402

OLD_REV = "7b14751"  # the last revision with pool_max.sv / pool_avg.sv
CASES = [
    ("MaxPool_rtl", rg.maxpool, 1, "pool_max"),
    ("AvgPoolTrunc_rtl", rg.avgpool_trunc, 1, "pool_avg"),
    ("MaxPool_rtl", rg.maxpool, 4, "pool_max"),
    ("AvgPoolTrunc_rtl", rg.avgpool_trunc, 4, "pool_avg"),
]


def _old_sources(d, old_core: str, text: str) -> dict[str, str]:
    """The node's sources with its wrapper instantiating ``old_core`` instead."""
    src = {k: v for k, v in d.sources.items() if k != "pool_window.sv"}
    name = next(k for k, v in src.items() if "pool_window #(" in v)
    w = re.sub(r"\s*\.FUNCTION\(\"\w+\"\),", "", src[name]).replace(
        "pool_window #(", old_core + " #("
    )
    if old_core == "pool_max":  # it had no OWIDTH
        w = re.sub(r"\s*\.OWIDTH\(\d+\),", "", w)
    src[name] = w
    src[old_core + ".sv"] = text
    return src


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    a = ap.parse_args()
    old = {
        n: subprocess.run(
            ["git", "show", f"{OLD_REV}:hw/rtl_lib/hdl/{n}.sv"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
        for n in ("pool_max", "pool_avg")
    }
    backend = get_synth_backend()
    rows = []
    with tempfile.TemporaryDirectory(prefix="fb_poolmerge_") as tmp:
        work = Path(tmp)
        prepare_finn(work)
        for k, (op, make, seed, old_core) in enumerate(CASES):
            model, part, desc = make(np.random.default_rng(seed))
            model = impl_style.route_to_rtl_lib(model, part)
            model = rg.codegen(model, part, work / f"g{k}")
            d = design.node_design(model, model.graph.node[0])
            for fam in ("xc7", "ecp5"):
                jobs = {
                    "merged": SynthJob(d.name, d.sources, d.module, fam, d.data_files),
                    "old": SynthJob(
                        d.name,
                        _old_sources(d, old_core, old[old_core]),
                        d.module,
                        fam,
                        d.data_files,
                    ),
                }
                res = {t: backend.synthesize(j, work / f"{t}{k}{fam}") for t, j in jobs.items()}
                rows.append(
                    {
                        "op": op,
                        "config": desc,
                        "family": fam,
                        "merged": {r: res["merged"].resources[r] for r in ("LUT", "FF")},
                        "old": {r: res["old"].resources[r] for r in ("LUT", "FF")},
                        "cells_equal": res["merged"].cells == res["old"].cells,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    meta = {"date": datetime.date.today().isoformat(), "old_revision": OLD_REV}
    out = Path(a.results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pool_core_merge.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n"
    )
    print("| op | configuration | family | LUT/FF merged | LUT/FF old | cells equal |")
    for r in rows:
        m, o = r["merged"], r["old"]
        print(
            f"| {r['op']} | {r['config']} | {r['family']} | {m['LUT']}/{m['FF']} | "
            f"{o['LUT']}/{o['FF']} | {r['cells_equal']} |"
        )


if __name__ == "__main__":
    main()
