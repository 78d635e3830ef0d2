"""Accuracy per quantization scheme: TFC trained as float, int w2a2, int w1a2, binarynet w1a1,
dorefa w2a2 and xnor w1a1 on Fashion-MNIST and MNIST-5k.

Prints one table (test accuracy, gap to the float baseline in points, seconds per epoch) and
writes OUT/accuracy.json and OUT/accuracy.png (grouped bar chart).

    .venv/bin/python benchmarks/accuracy.py [--epochs-fashion 5] [--epochs-mnist5k 10] [--out DIR]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

from fewerbits.train.datasets import load_dataset
from fewerbits.train.trainer import train

from fewerbits.core.config import TrainConfig
from fewerbits.core.files import write_json

#: (label, scheme, wbits, abits)
SCHEMES = [
    ("float", "float", 32, 32),
    ("int w2a2", "int", 2, 2),
    ("int w1a2", "int", 1, 2),
    ("binarynet w1a1", "binarynet", 1, 1),
    ("dorefa w2a2", "dorefa", 2, 2),
    ("xnor w1a1", "xnor", 1, 1),
]
TARGET_GAP = 2.0  # points: int w2a2 vs float on Fashion-MNIST


def run(
    datasets: dict[str, int], out: Path, seed: int, progress: bool, schemes: list | None = None
) -> dict:
    rows = []
    for ds_name, epochs in datasets.items():
        data = load_dataset(ds_name)
        for label, scheme, w, a in schemes or SCHEMES:
            cfg = TrainConfig(
                model="tfc", scheme=scheme, wbits=w, abits=a, dataset=ds_name, epochs=epochs
            )
            cfg.seed = seed
            t0 = time.time()
            rep = train(cfg, out / "runs" / f"{ds_name}-{scheme}-w{w}a{a}", data, progress)
            rows.append(
                {
                    "dataset": ds_name,
                    "scheme": label,
                    "epochs": epochs,
                    "test_accuracy": rep["test_accuracy"],
                    "test_samples": len(data.x_test),
                    "train_samples": len(data.x_train),
                    "seconds_per_epoch": rep["train_seconds"] / max(epochs, 1),
                    "wall_seconds": round(time.time() - t0, 2),
                }
            )
            print(
                f"  {ds_name:14s} {label:15s} acc {rep['test_accuracy']:.4f} "
                f"({rep['train_seconds'] / max(epochs, 1):.1f} s/epoch)",
                flush=True,
            )
    for r in rows:
        base = next(b for b in rows if b["dataset"] == r["dataset"] and b["scheme"] == "float")
        r["gap_points"] = round(100 * (base["test_accuracy"] - r["test_accuracy"]), 2)
    fashion = [r for r in rows if r["dataset"] == "fashion-mnist" and r["scheme"] == "int w2a2"]
    return {
        "model": "tfc",
        "seed": seed,
        "machine": {"python": platform.python_version(), "cpu_threads_used": 1},
        "rows": rows,
        "target": {
            "description": f"int w2a2 within {TARGET_GAP} points of float on fashion-mnist",
            "gap_points": fashion[0]["gap_points"] if fashion else None,
            "met": bool(fashion and fashion[0]["gap_points"] <= TARGET_GAP),
        },
    }


def table(result: dict) -> str:
    lines = [
        "| dataset | scheme | epochs | test accuracy | gap to float (points) | s/epoch |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['dataset']} | {r['scheme']} | {r['epochs']} | {r['test_accuracy']:.4f} | "
            f"{r['gap_points']:+.2f} | {r['seconds_per_epoch']:.1f} |"
        )
    return "\n".join(lines)


def plot(result: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in result["rows"]))
    schemes = list(dict.fromkeys(r["scheme"] for r in result["rows"]))
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(datasets)
    for i, ds in enumerate(datasets):
        acc = [
            100
            * next(
                r["test_accuracy"]
                for r in result["rows"]
                if r["dataset"] == ds and r["scheme"] == s
            )
            for s in schemes
        ]
        xs = [j + (i - (len(datasets) - 1) / 2) * width for j in range(len(schemes))]
        bars = ax.bar(xs, acc, width, label=ds)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(schemes)), schemes)
    ax.set_ylabel("test accuracy (%)")
    low = min(100 * r["test_accuracy"] for r in result["rows"])
    ax.set_ylim(max(0, low - 10), 100)
    ax.set_title("TFC accuracy per quantization scheme")
    ax.legend()
    fig.tight_layout()
    tmp = png.with_name(png.name + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(png)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs-fashion", type=int, default=5)
    p.add_argument("--epochs-mnist5k", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/benchmarks/accuracy")
    p.add_argument("--progress", action="store_true", help="show per-epoch progress bars")
    p.add_argument(
        "--only", default=None, help="comma-separated scheme labels to run, e.g. 'float,int w2a2'"
    )
    p.add_argument("--datasets", default="fashion-mnist,mnist-5k")
    a = p.parse_args(argv)
    out = Path(a.out)
    epochs = {"fashion-mnist": a.epochs_fashion, "mnist-5k": a.epochs_mnist5k}
    datasets = {d: epochs[d] for d in a.datasets.split(",")}
    schemes = [s for s in SCHEMES if a.only is None or s[0] in a.only.split(",")]
    if not any(s[0] == "float" for s in schemes):
        p.error("--only must include float (the baseline of the gap column)")
    t0 = time.time()
    result = run(datasets, out, a.seed, a.progress, schemes)
    result["total_seconds"] = round(time.time() - t0, 1)
    write_json(out / "accuracy.json", result)
    plot(result, out / "accuracy.png")
    print(table(result))
    t = result["target"]
    if t["gap_points"] is None:
        print(f"target: {t['description']}: not measured (fashion-mnist not in --datasets)")
    else:
        verdict = "met" if t["met"] else "NOT met"
        print(f"target: {t['description']}: gap {t['gap_points']} points -> {verdict}")
    print(f"wrote {out / 'accuracy.json'} and {out / 'accuracy.png'} ({result['total_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
