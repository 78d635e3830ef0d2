"""`fewerbits sweep`: which bit-width and width buys an accuracy at the least hardware cost.

Each point (scheme, bits, width) is trained, exported, costed with qonnx's inference-cost
analysis and the energy model of :mod:`fewerbits.energy`, and built through FINN's estimates.
Every point lives in ``DIR/points/<label>/`` (checkpoint, QONNX, build, ``record.json``); a point
with a ``record.json`` is finished and is not redone, so a sweep resumes where it stopped. A point
that fails is recorded with its error and the sweep goes on.

Outputs: ``DIR/sweep.json`` (one record per point), ``DIR/pareto.png`` and ``DIR/sweep.md``.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from fewerbits.core import ownership
from fewerbits.core.artifacts import ExportDir, TrainDir
from fewerbits.core.config import BuildConfig, TrainConfig
from fewerbits.core.errors import FewerbitsError, UsageError
from fewerbits.core.files import sha256_json, write_json
from fewerbits.energy import SOURCES, estimate_model
from fewerbits.export.exporter import export, export_qonnx
from fewerbits.hw.build import build
from fewerbits.train.trainer import load_checkpoint, train

RECORD = "record.json"
FIXED_BITS = {"binarynet": (1, 1), "xnor": (1, 1), "binaryconnect": (1, 32), "float": (32, 32)}


class SweepError(FewerbitsError):
    """A sweep specification that cannot be run."""


class SweepOptionError(SweepError, UsageError):
    """A malformed --bits/--widths (exit 2)."""


@dataclass
class SweepConfig:
    """The grid and the shared settings of a sweep."""

    model: str = "tfc"
    dataset: str = "fashion-mnist"
    schemes: list[str] = field(default_factory=lambda: ["binarynet", "int"])
    bits: list[tuple[int, int]] = field(default_factory=lambda: [(1, 1), (2, 2), (4, 4)])
    widths: list[float] = field(default_factory=lambda: [1.0])
    board: str = "Pynq-Z1"
    epochs: int = 5
    seed: int = 0
    fit: float = 0.7
    include_float: bool = True
    max_steps: int | None = None
    jobs: int = 1


@dataclass(frozen=True)
class Point:
    """One configuration of the sweep."""

    scheme: str
    wbits: int
    abits: int
    width: float

    @property
    def label(self) -> str:
        bits = "fp32" if self.scheme == "float" else f"w{self.wbits}a{self.abits}"
        return f"{self.scheme}-{bits}-x{self.width:g}"


def parse_bits(spec: str) -> list[tuple[int, int]]:
    """'1x1,2x2' -> [(1, 1), (2, 2)] (weights x activations)."""
    out = []
    for item in spec.split(","):
        try:
            w, a = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise SweepOptionError(
                f"--bits {spec!r}: expected WxA pairs like 1x1,2x2,4x4"
            ) from None
        out.append((w, a))
    return out


def grid(cfg: SweepConfig) -> list[Point]:
    """All points of the sweep (fixed-bit schemes once per width; the float baseline if asked)."""
    points: list[Point] = []
    for width in cfg.widths:
        if cfg.include_float:
            points.append(Point("float", 32, 32, width))
        for scheme in cfg.schemes:
            if scheme in FIXED_BITS:
                w, a = FIXED_BITS[scheme]
                points.append(Point(scheme, w, a, width))
                continue
            points += [Point(scheme, w, a, width) for w, a in cfg.bits]
    seen: set[Point] = set()
    return [p for p in points if not (p in seen or seen.add(p))]


def run_point(point: Point, cfg: SweepConfig, out: Path) -> dict:
    """Train, export, cost and build one point; never raises (errors go into the record)."""
    pdir = out / "points" / point.label
    rec: dict = {**asdict(point), "label": point.label, "status": "ok", "error": None}
    t0 = time.time()
    try:
        tc = TrainConfig(
            model=cfg.model,
            scheme=point.scheme,
            wbits=point.wbits,
            abits=point.abits,
            width=point.width,
            dataset=cfg.dataset,
            epochs=cfg.epochs,
            seed=cfg.seed,
            max_steps=cfg.max_steps,
        )
        train_dir, export_dir = TrainDir(pdir / "train"), ExportDir(pdir / "export")
        tr = train(tc, train_dir.path, progress=False)
        rec["accuracy"] = tr["test_accuracy"]
        model, ckpt = load_checkpoint(train_dir.checkpoint)
        if ckpt.get("deployable", True):
            # the same stage function and checks as `fewerbits run`
            export({"checkpoint": str(train_dir.path)}, export_dir.path)
        else:  # float reference points: costed, never built
            export_qonnx(model, tuple(ckpt["input_shape"]), export_dir.model)
        rec.update(estimate_model(export_dir.model).to_dict())
        if not ckpt.get("deployable", True):
            rec["status"] = "not-deployable"
            rec["error"] = (
                f"scheme {point.scheme}: float activations cannot be mapped to FINN hardware (reference only)"
            )
        else:
            bc = BuildConfig(board=cfg.board, until="estimates", fit=cfg.fit)
            est = build(export_dir.model, pdir / "build", bc, progress=False).estimates
            rec.update({k: est.get(k) for k in ("fps", "latency_cycles", "luts", "brams", "dsps")})
    except Exception as e:  # noqa: BLE001 - a failing point is recorded, the sweep goes on
        rec["status"] = "error"
        rec["error"] = f"{type(e).__name__}: {e}".splitlines()[0]
        rec["traceback"] = traceback.format_exc(limit=5)
    rec["seconds"] = round(time.time() - t0, 2)
    write_json(pdir / RECORD, rec)
    return rec


def pareto_front(records: list[dict], cost: str) -> list[dict]:
    """Records not dominated in (higher accuracy, lower ``cost``)."""
    cands = [r for r in records if r.get("accuracy") is not None and r.get(cost) is not None]
    front = []
    for r in cands:
        dominated = any(
            o is not r
            and o["accuracy"] >= r["accuracy"]
            and o[cost] <= r[cost]
            and (o["accuracy"] > r["accuracy"] or o[cost] < r[cost])
            for o in cands
        )
        if not dominated:
            front.append(r)
    return sorted(front, key=lambda r: r[cost])


def cheapest_per_accuracy(
    records: list[dict], levels: list[float], cost: str = "energy_pj"
) -> list[dict]:
    """For each accuracy level, the cheapest deployable point reaching it ("normalized energy")."""
    ok = [r for r in records if r.get("status") == "ok" and r.get(cost) is not None]
    rows = []
    for level in levels:
        reach = [r for r in ok if r["accuracy"] >= level]
        best = min(reach, key=lambda r: r[cost]) if reach else None
        rows.append(
            {
                "accuracy_at_least": level,
                "cheapest": best["label"] if best else None,
                cost: best[cost] if best else None,
            }
        )
    return rows


def accuracy_levels(accuracies: list[float], step: float = 0.01) -> list[float]:
    """Accuracy levels every ``step`` from the lowest to the highest accuracy reached (floored)."""
    if not accuracies:
        return []
    lo, hi = (math.floor(a / step + 1e-9) for a in (min(accuracies), max(accuracies)))
    return [round(k * step, 6) for k in range(lo, hi + 1)]


#: plotted cost -> (axis label, divisor): energy in nJ, the unit of sweep.md's tables
PLOT_COSTS = {
    "energy_pj": ("energy per inference (nJ, model)", 1000.0),
    "luts": ("LUTs (FINN estimate)", 1.0),
}


def plain_log_ticks(ax) -> None:
    """Log-scale x ticks written as plain numbers (0.1, 1, 10, 100, 1,000; 2 and 5 between
    when a decade is wide), not as powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.10g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot(records: list[dict], out_png: Path) -> None:
    """Accuracy vs energy (nJ, as in sweep.md) and accuracy vs LUTs, Pareto fronts highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, (cost, (xlabel, unit)) in zip(axes, PLOT_COSTS.items(), strict=True):
        pts = [r for r in records if r.get("accuracy") is not None and r.get(cost) is not None]
        front = pareto_front([r for r in pts if r["status"] == "ok"], cost)
        for r in pts:
            marker = "x" if r["status"] != "ok" else "o"
            ax.scatter(
                r[cost] / unit,
                r["accuracy"],
                marker=marker,
                color="#999" if r["status"] != "ok" else "#3b6ea8",
            )
            ax.annotate(
                r["label"],
                (r[cost] / unit, r["accuracy"]),
                fontsize=6,
                xytext=(3, 2),
                textcoords="offset points",
            )
        if front:
            ax.plot(
                [r[cost] / unit for r in front],
                [r["accuracy"] for r in front],
                "-",
                color="#d1495b",
                label="Pareto front",
            )
            ax.legend(loc="upper left")
        plain_log_ticks(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def markdown(records: list[dict], cfg: SweepConfig) -> str:
    """The sweep table and the answer to the seed's question."""
    lines = [f"# Sweep: {cfg.model} on {cfg.dataset}, {cfg.board}", "", "![pareto](pareto.png)", ""]
    lines += [
        "| point | status | accuracy | energy/inf (nJ) | weight kbit | LUT | BRAM36 | DSP | est. FPS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def f(v, fmt):
        return format(v, fmt) if isinstance(v, int | float) else "–"

    for r in sorted(records, key=lambda r: r.get("energy_pj") or 0):
        lines.append(
            f"| {r['label']} | {r['status']} | {f(r.get('accuracy'), '.4f')} | {f((r.get('energy_pj') or 0) / 1000, '.2f') if r.get('energy_pj') else '–'} "
            f"| {f((r.get('weight_bits') or 0) / 1000, '.1f')} | {f(r.get('luts'), ',.0f')} | {f(r.get('brams'), 'g')} | {f(r.get('dsps'), 'g')} | {f(r.get('fps'), ',.0f')} |"
        )
    accs = accuracy_levels(
        [r["accuracy"] for r in records if r.get("status") == "ok" and r.get("accuracy")]
    )
    lines += [
        "",
        "## Cheapest configuration per accuracy level (normalized energy)",
        "",
        "| accuracy ≥ | cheapest deployable point | energy/inf (nJ) |",
        "|---|---|---|",
    ]
    for row in cheapest_per_accuracy(records, accs):
        e = row["energy_pj"]
        lines.append(
            f"| {row['accuracy_at_least']:.2f} | {row['cheapest'] or '–'} | {e / 1000:.2f} |"
            if e
            else f"| {row['accuracy_at_least']:.2f} | – | – |"
        )
    errors = [r for r in records if r["status"] == "error"]
    if errors:
        lines += ["", "## Failed points", ""] + [f"- {r['label']}: {r['error']}" for r in errors]
    lines += ["", "Energy model: see `fewerbits/energy.py`; sources: " + "; ".join(SOURCES) + "."]
    return "\n".join(lines) + "\n"


def sweep(
    cfg: SweepConfig,
    out: Path,
    progress: bool = True,
    runner: Callable[[Point, SweepConfig, Path], dict] = run_point,
    force: bool = False,
) -> list[dict]:
    """Run (or resume) a sweep; write sweep.json, pareto.png, sweep.md; return the records.

    OUT is owned (:mod:`fewerbits.core.ownership`): locked while sweeping; a sweep of other
    options is replaced only with ``force``; the finished points of the same sweep are reused."""
    out = Path(out).absolute()
    points = grid(cfg)
    if not points:
        raise SweepError("the sweep grid is empty: give --schemes and --bits")
    sweep_hash = sha256_json({k: v for k, v in asdict(cfg).items() if k != "jobs"})
    with ownership.claimed(out, "sweep", sweep_hash, force):
        owner = ownership.read_owner(out) or {}
        if force and out.is_dir() and owner.get("config_hash") != sweep_hash:
            shutil.rmtree(out)  # --force: the points were made with other options, not resumed
        out.mkdir(parents=True, exist_ok=True)
        ownership.write_owner(out, "sweep", sweep_hash)  # a partial sweep resumes
        return _sweep(cfg, out, points, progress, runner)


def _sweep(
    cfg: SweepConfig,
    out: Path,
    points: list[Point],
    progress: bool,
    runner: Callable[[Point, SweepConfig, Path], dict],
) -> list[dict]:
    """The points of :func:`sweep` not yet in ``out``, then its summary files."""
    records: dict[str, dict] = {}
    todo = []
    for p in points:
        rec_file = out / "points" / p.label / RECORD
        if rec_file.is_file():
            records[p.label] = {**json.loads(rec_file.read_text()), "resumed": True}
        else:
            todo.append(p)
    bar = tqdm(
        total=len(points), initial=len(points) - len(todo), desc="sweep", disable=not progress
    )
    if cfg.jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(cfg.jobs) as pool:
            for rec in pool.map(runner, todo, [cfg] * len(todo), [out] * len(todo)):
                records[rec["label"]] = rec
                bar.update()
    else:
        for p in todo:
            bar.set_postfix_str(p.label)
            records[p.label] = runner(p, cfg, out)
            bar.update()
    bar.close()
    ordered = [records[p.label] for p in points]
    write_json(
        out / "sweep.json",
        {
            "config": asdict(cfg),
            "points": ordered,
            "pareto_energy": [
                r["label"]
                for r in pareto_front([r for r in ordered if r["status"] == "ok"], "energy_pj")
            ],
        },
    )
    plot(ordered, out / "pareto.png")
    (out / "sweep.md").write_text(markdown(ordered, cfg))
    return ordered
