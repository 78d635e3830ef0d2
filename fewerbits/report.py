"""report.json and report.md (with PNG plots) for a run or a build directory."""

from __future__ import annotations

from pathlib import Path

from fewerbits.config import write_json


def plot_per_layer(per_layer: list[dict], out_png: Path) -> Path | None:
    """Bar charts of per-layer cycles and LUT/BRAM estimates."""
    if not per_layer:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [p["name"] for p in per_layer]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, key, title in zip(
        axes, ("cycles", "luts", "brams"), ("cycles / frame", "LUTs", "BRAM36"), strict=True
    ):
        ax.bar(range(len(names)), [p[key] for p in per_layer], color="#3b6ea8")
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
        ax.set_title(title)
    fig.suptitle("FINN per-layer estimates")
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def render_markdown(report: dict, plot_rel: str | None) -> str:
    """The human-readable report."""
    lines = ["# fewerbits report", ""]
    cfg = report.get("config", {}).get("train", {})
    if cfg:
        lines += [
            f"Model **{cfg.get('model')}**, scheme **{cfg.get('scheme')}** w{cfg.get('wbits')}a{cfg.get('abits')}, dataset **{cfg.get('dataset')}**.",
            "",
        ]
    acc = report.get("accuracy", {})
    if acc:
        lines += [f"Test accuracy: **{acc['test']:.4f}** ({acc.get('test_samples')} images)", ""]
    lines += [
        "## Verification",
        "",
        "| level | status | samples | bit-exact | max abs diff | max ULP | argmax agree | reason |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for lv in report.get("verification", {}).get("levels", []):
        lines.append(
            f"| {lv['name']} | {lv['status']} | {lv.get('samples', 0)} | {lv.get('bit_exact', 0)} | {_fmt(lv.get('max_abs_diff'))} "
            f"| {_fmt(lv.get('max_ulp'))} | {_fmt(lv.get('argmax_agree'))} | {lv.get('reason') or ''} |"
        )
    est = report.get("estimates", {})
    if est:
        lines += [
            "",
            "## Hardware estimates (FINN)",
            "",
            f"- throughput: **{est['fps']:,.0f} FPS**; latency {est['latency_cycles']:,} cycles",
            f"- resources: {est['luts']:,.0f} LUT, {est['brams']:g} BRAM36, {est['dsps']:g} DSP",
            "",
            "| layer | cycles | LUT | BRAM36 | DSP |",
            "|---|---|---|---|---|",
        ]
        for p in est.get("per_layer", []):
            lines.append(
                f"| {p['name']} | {p['cycles']:,} | {p['luts']:,.0f} | {p['brams']:g} | {p['dsps']:g} |"
            )
        if plot_rel:
            lines += ["", f"![per-layer estimates]({plot_rel})"]
    steps = report.get("steps", {})
    if steps:
        lines += [
            "",
            "## FINN steps",
            "",
            "Ran: " + ", ".join(f"`{s}`" for s in steps.get("ran", [])),
            "",
            "Skipped:",
            "",
        ]
        lines += [f"- `{s['step']}`: {s['reason']}" for s in steps.get("skipped", [])] or ["- none"]
    t = report.get("timings_seconds")
    if t:
        lines += ["", "## Timings (s)", "", " · ".join(f"{k} {v}" for k, v in t.items())]
    return "\n".join(lines) + "\n"


def write_report(out: Path, report: dict) -> None:
    """Write OUT/report.json, OUT/report.md and OUT/plots/*.png."""
    out = Path(out)
    png = plot_per_layer(
        report.get("estimates", {}).get("per_layer", []), out / "plots" / "per_layer.png"
    )
    report.setdefault("plots", [])
    if png:
        report["plots"].append(str(png.relative_to(out)))
    write_json(out / "report.json", report)
    tmp = out / "report.md.tmp"
    tmp.write_text(render_markdown(report, str(png.relative_to(out)) if png else None))
    tmp.replace(out / "report.md")
