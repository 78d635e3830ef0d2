"""What `fewerbits verify` costs per level, with the code of this tree against another tree's
(``--before DIR``, e.g. a `git worktree` of the commit before a change), on the same builds
and inputs in the same run.

    .venv/bin/python benchmarks/verify_cost.py [--before DIR] [--samples 20] [--repeat 2]
                                               [--models demo,default_cnn] [--out runs/bench-verify]

Models: ``demo`` (the demo's TFC w2a2 on mnist-5k, `fewerbits run` trained for one short
epoch: the graph is the demo's, the weights matter nothing here) and any factory of
benchmarks/external_models.py (exported and built here; random 0..255 inputs). Builds stop
after the estimates (every FINN graph level has its model); the RTL levels are skipped. Each
verify runs in a fresh process (`fewerbits verify ... --skip rtl_nodes --skip rtl_stitched`);
the best of ``--repeat`` wall times is reported with each level's own seconds. Writes
OUT/verify_cost.json and a PNG, and prints a Markdown table (after/before ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SKIP = ("--skip", "rtl_nodes", "--skip", "rtl_stitched")


def _cli(*args: str, tree: Path | None = None, cwd: Path | None = None) -> None:
    env = dict(os.environ)
    if tree is not None:  # that tree's packages first (fewerbits/, export/, hw/, train/)
        env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")])
    p = subprocess.run(
        [sys.executable, "-m", "fewerbits.cli", *args, "-q"],
        env=env,
        cwd=tree or cwd,  # `python -m` puts the working folder first on the path
        capture_output=True,
        text=True,
    )
    if p.returncode not in (0, 1):
        raise SystemExit(f"fewerbits {' '.join(args)} failed:\n{p.stderr[-2000:]}")


def prepare(name: str, work: Path, samples: int) -> tuple[Path, Path]:
    """(build folder, inputs .npy) for model ``name``, made once under ``work``."""
    d = work / name
    x_file = d / "x.npy"
    if name == "demo":
        if not (d / "run" / "build").is_dir():
            d.mkdir(parents=True, exist_ok=True)
            _cli(
                "run", "--out", str(d / "run"), "--epochs", "1", "--max-steps", "20",
                "--until", "estimates", "--verify-samples", "1", "--skip", *SKIP[1::2],
            )  # fmt: skip
        if not x_file.is_file():
            from fewerbits.train.datasets import load_dataset

            np.save(x_file, load_dataset("mnist-5k").x_test[:samples].astype(np.float32))
        return d / "run" / "build", x_file
    sys.path.insert(0, str(HERE))
    from external_models import MODELS

    shape = MODELS[name][0]
    if not (d / "build").is_dir():
        d.mkdir(parents=True, exist_ok=True)
        shape_arg = ",".join(map(str, shape))
        factory = f"{HERE / 'external_models.py'}:{name}"
        _cli("export", factory, "--input-shape", shape_arg, "--out", str(d / "export"))
        _cli("build", str(d / "export"), "--out", str(d / "build"), "--until", "estimates")
    if not x_file.is_file():
        rng = np.random.default_rng(0)
        np.save(x_file, rng.integers(0, 256, (samples, *shape)).astype(np.float32))
    return d / "build", x_file


def time_verify(build: Path, x_file: Path, out: Path, tree: Path | None, repeat: int) -> dict:
    """Best wall time of ``repeat`` verify runs and the levels of the fastest."""
    best: dict | None = None
    for _ in range(repeat):
        t0 = time.time()
        _cli("verify", str(build), "--input", str(x_file), *SKIP, "--out", str(out), tree=tree)
        wall = time.time() - t0
        res = json.loads(out.read_text())
        if best is None or wall < best["wall"]:
            best = {"wall": round(wall, 2), "levels": res["levels"], "summary": res["summary"]}
    return best


def plot(rows: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['model']}\n{r['level']}" for r in rows]
    before = [r.get("before_s") or 0.001 for r in rows]
    after = [max(r["after_s"], 0.001) for r in rows]
    ix = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.9), 4))
    ax.bar(ix - 0.2, before, 0.4, label="before (integers only where the output differs)")
    ax.bar(ix + 0.2, after, 0.4, label="after (every integer tensor, every sample)")
    ax.set_xticks(ix, labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("seconds (log)")
    ax.set_title("fewerbits verify: seconds per level")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", type=Path, default=None, help="the tree to compare with")
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--models", default="demo,default_cnn")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-verify")
    a = p.parse_args()
    a.out = a.out.resolve()  # the runs of --before work in that tree
    a.out.mkdir(parents=True, exist_ok=True)
    rows, runs = [], {}
    for name in a.models.split(","):
        print(f"[verify_cost] {name}: preparing", file=sys.stderr, flush=True)
        build, x_file = prepare(name, a.out, a.samples)
        trees = {"after": ROOT, **({"before": a.before.resolve()} if a.before else {})}
        got = {}
        for label, tree in trees.items():
            print(f"[verify_cost] {name}: verify ({label})", file=sys.stderr, flush=True)
            got[label] = time_verify(build, x_file, a.out / f"{name}-{label}.json", tree, a.repeat)
        runs[name] = got
        before = {lv["name"]: lv for lv in got.get("before", {}).get("levels", [])}
        for lv in [*got["after"]["levels"], {"name": "total"}]:
            if lv.get("status") == "skipped":
                continue
            total = lv["name"] == "total"
            b = got["before"]["wall"] if total and "before" in got else None
            if not total and lv["name"] in before:
                b = before[lv["name"]]["seconds"]
            s = got["after"]["wall"] if total else lv["seconds"]
            rows.append(
                {
                    "model": name,
                    "level": "total (wall)" if total else lv["name"],
                    "before_s": b,
                    "after_s": s,
                    "ratio": round(s / b, 2) if b else None,
                    "integers": "" if total else (lv.get("integers") or {}).get("summary", ""),
                }
            )
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = os.getloadavg()[0]
    result = {"date": stamp, "load": load, "samples": a.samples, "rows": rows, "runs": runs}
    (a.out / "verify_cost.json").write_text(json.dumps(result, indent=1))
    plot(rows, a.out / "verify_cost.png")
    print(f"{stamp}, load {load:.1f}, {a.samples} samples, best of {a.repeat}")
    print("| model | level | before s | after s | after/before | integers (after) |")
    print("|---|---|---:|---:|---:|---|")
    for r in rows:
        b = "" if r["before_s"] is None else f"{r['before_s']:.2f}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        print(
            f"| {r['model']} | {r['level']} | {b} | {r['after_s']:.2f} | {ratio} | {r['integers']} |"
        )
    print(f"wrote {a.out / 'verify_cost.json'}, {a.out / 'verify_cost.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
