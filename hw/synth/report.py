"""The synthesis results in the build's report: per layer, FINN's estimate beside the
synthesized count with the ratio (BUILD/report.json ``synthesis``, report.md, a PNG plot)."""

from __future__ import annotations

from pathlib import Path

from fewerbits.core.artifacts import BuildDir
from fewerbits.core.files import read_json
from fewerbits.core.report import write_report


def layer_rows(summary: dict) -> list[dict]:
    """One row per layer: synthesized LUT (logic + LUTRAM) / FF / BRAM36 / DSP, FINN's
    estimate and the ratio; HLS layers with the reason instead of numbers."""
    rows = []
    for lay in summary["layers"]:
        r = lay["resources"]
        finn = lay.get("finn") or {}
        ratio = lay.get("ratio") or {}
        rows.append(
            {
                "name": lay["name"],
                "op_type": lay["op_type"],
                "lut": r["LUT"] + r["LUTRAM"],
                "ff": r["FF"],
                "bram36": r["BRAM36"] + r["BRAM18"] / 2,
                "bram4k": r["BRAM4K"],
                "dsp": r["DSP"],
                "finn_lut": finn.get("luts"),
                "finn_bram36": finn.get("brams"),
                "finn_dsp": finn.get("dsps"),
                "lut_ratio": ratio.get("luts"),
                "dsp_ratio": ratio.get("dsps"),
            }
        )
    for n in summary["not_synthesizable"]:
        rows.append({"name": n["name"], "op_type": n["op_type"], "reason": n["reason"]})
    return rows


def report_section(summary: dict) -> dict:
    """The ``synthesis`` entry of report.json."""
    total = summary.get("total")
    return {
        "family": summary["family"],
        "part": summary["part"],
        "tool": summary["tool"],
        "total": total["resources"] if total else None,
        "total_reason": summary.get("total_reason"),
        "percent": total["percent"] if total else None,
        "fifos_and_glue": summary.get("fifos_and_glue"),
        "layers": layer_rows(summary),
        "seconds": summary["seconds"],
        "pnr": summary.get("pnr"),
        "details": "synth/synthesis.json",
    }


def add_to_build_report(build_path: Path, summary: dict) -> Path:
    """Put the synthesis section into BUILD/report.json and report.md (and plots)."""
    out = BuildDir(Path(build_path))
    report = read_json(out.report_json) if out.report_json.is_file() else {}
    report["synthesis"] = report_section(summary)
    write_report(out.path, report)
    return out.report_md
