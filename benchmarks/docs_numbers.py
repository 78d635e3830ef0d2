"""Measure the demo pipeline and write docs/numbers/demo.json and docs/numbers/demo.md.

Runs exactly what `make demo` runs (`fewerbits run` with the Makefile's DEMO_ARGS, every other
option at its default: TFC int w2a2 on MNIST-5k, Pynq-Z1 at 100 MHz) into a fresh temporary
folder, then records the date, the
machine, the versions of the stack and the run's numbers: test accuracy, seconds per stage,
every verification level with its bit-exact count, FINN's estimates, the stitched Verilator
simulation against FINN's estimate and the per-layer table. The docs quote demo numbers only
from these files.

    .venv/bin/python benchmarks/docs_numbers.py [--out docs/numbers] [--keep DIR]

(`make docs-numbers`.) Takes 1-2 minutes on 2 cores, plus a Verilator build on a cold cache.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def demo_args(makefile: Path = ROOT / "Makefile") -> list[str]:
    """The options `make demo` adds to `fewerbits run` (the Makefile's DEMO_ARGS line)."""
    m = re.search(r"^DEMO_ARGS\s*\?=\s*(.*)$", makefile.read_text(), flags=re.M)
    return shlex.split(m.group(1)) if m else []


#: distributions whose versions are recorded (importlib.metadata names)
PACKAGES = ("torch", "brevitas", "finn-plus", "qonnx", "onnxruntime", "verilator")


def machine() -> dict:
    """nproc, CPU model (from /proc/cpuinfo) and RAM (from /proc/meminfo) of this machine."""
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info: dict = {"nproc": nproc, "cpu": platform.processor() or None, "ram_gib": None}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["ram_gib"] = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    return info


def versions() -> dict:
    """Python and the installed versions of the packages in PACKAGES (None if absent)."""
    out: dict = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def run_demo(out: Path, args: list[str]) -> tuple[float, int]:
    """`fewerbits run --out OUT ARGS` (what `make demo` runs): wall seconds and exit code (1
    when a verification level failed; the numbers are recorded all the same)."""
    t0 = time.time()
    cmd = [sys.executable, "-m", "fewerbits.cli", "run", "--out", str(out), *args, "--quiet"]
    rc = subprocess.run(cmd, cwd=ROOT).returncode
    if not (out / "report.json").is_file():
        raise SystemExit(f"docs_numbers: `fewerbits run` exited {rc} without a report.json")
    return round(time.time() - t0, 1), rc


def collect(run_dir: Path, wall_seconds: float, exit_code: int = 0, args: tuple = ()) -> dict:
    """The numbers of one finished demo run folder (report.json and build/verify.json)."""
    report = json.loads((run_dir / "report.json").read_text())
    verify = json.loads((run_dir / "build" / "verify.json").read_text())
    est = report["estimates"]
    impl = report.get("implementations") or {}
    st = (report.get("rtl_simulation") or {}).get("rtl_stitched") or {}
    keys = ("status", "samples", "bit_exact", "max_ulp", "seconds", "reason")
    return {
        "command": " ".join(["fewerbits run --out DIR", *args]),
        "exit_code": exit_code,
        "config": report["config"],
        "accuracy": report["accuracy"],
        "seconds": {"wall": wall_seconds, **report["timings_seconds"]},
        "verification": {
            "reference_seconds": verify["reference"]["seconds"],
            "all_passed": report["verification"]["all_passed"],
            "levels": [
                {"name": lv["name"], **{k: lv.get(k) for k in keys}}
                for lv in report["verification"]["levels"]
            ],
        },
        "estimates": {k: est[k] for k in ("fps", "latency_cycles", "luts", "brams", "dsps")},
        "rtl_stitched": {
            k: st.get(k)
            for k in (
                "frames",
                "bit_exact",
                "cycles_per_frame",
                "estimate_cycles_per_frame",
                "estimate_ratio",
                "latency_cycles",
                "estimate_latency_cycles",
                "latency_ratio",
                "frames_per_second",
                "build_seconds",
                "cache_hit",
            )
        },
        "layers": [{**p, "implementation": impl.get(p["name"])} for p in est["per_layer"]],
        "steps": {
            "ran": len(report["steps"]["ran"]),
            "skipped": [{k: s[k] for k in ("step", "reason")} for s in report["steps"]["skipped"]],
        },
    }


def _num(v: object) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def render_md(d: dict) -> str:
    """docs/numbers/demo.md: the same numbers as demo.json, as tables."""
    m, v, s, e, r = d["machine"], d["versions"], d["seconds"], d["estimates"], d["rtl_stitched"]
    tc, bc = d["config"]["train"], d["config"]["build"]
    lines = [
        "# Demo numbers",
        "",
        f"Measured by `make docs-numbers` (`benchmarks/docs_numbers.py`) on {d['date']}. "
        "Generated file: do not edit, rerun the script.",
        "",
        f"- command: `{d['command']}`, every other option at its default (what `make demo` "
        "runs); "
        f"exit code {d['exit_code']}",
        f"- model: {tc['model']} {tc['scheme']} w{tc['wbits']}a{tc['abits']}, {tc['dataset']}, "
        f"{tc['epochs']} epochs, seed {tc['seed']}; board {bc['board']} at "
        f"{1000 / bc['clock_ns']:g} MHz, impl style {bc['impl_style']}, until {bc['until']}",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, shared with "
        "other jobs (times are indicative)",
        "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        "",
        f"Test accuracy: **{d['accuracy']['test']:.4f}** on {d['accuracy']['test_samples']:,} "
        "images.",
        "",
        "Seconds: " + ", ".join(f"{k} {val}" for k, val in s.items()) + " (wall includes "
        "Python start-up and imports).",
        "",
        "## Verification (outputs compared with PyTorch)",
        "",
        f"PyTorch reference: {d['verification']['reference_seconds']} s. "
        f"All passed: {d['verification']['all_passed']}.",
        "",
        "| level | status | samples | bit-exact | max ULP | seconds | reason |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for lv in d["verification"]["levels"]:
        lines.append(
            f"| {lv['name']} | {lv['status']} | {_num(lv['samples'])} | {_num(lv['bit_exact'])} "
            f"| {_num(lv['max_ulp'])} | {_num(lv['seconds'])} | {lv['reason'] or ''} |"
        )
    lines += [
        "",
        "## FINN estimates and the Verilator simulation",
        "",
        f"FINN estimates: {_num(e['fps'])} FPS, latency {_num(e['latency_cycles'])} cycles, "
        f"{_num(e['luts'])} LUT, {_num(e['brams'])} BRAM36, {_num(e['dsps'])} DSP.",
        "",
        "| rtl_stitched | measured | FINN estimate | ratio |",
        "|---|---:|---:|---:|",
        f"| cycles/frame | {_num(r['cycles_per_frame'])} | {_num(r['estimate_cycles_per_frame'])} "
        f"| {_num(r['estimate_ratio'])} |",
        f"| latency (cycles) | {_num(r['latency_cycles'])} | {_num(r['estimate_latency_cycles'])} "
        f"| {_num(r['latency_ratio'])} |",
        "",
        f"{_num(r['bit_exact'])}/{_num(r['frames'])} frames bit-exact; simulation "
        f"{_num(r['frames_per_second'])} frames/s; Verilator build {_num(r['build_seconds'])} s "
        f"(cache hit: {r['cache_hit']}).",
        "",
        "## Layers (FINN estimates)",
        "",
        "| layer | implementation | PE | SIMD | cycles | LUT | BRAM36 | DSP |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in d["layers"]:
        lines.append(
            f"| {p['name']} | {p['implementation'] or ''} | {_num(p.get('PE'))} "
            f"| {_num(p.get('SIMD'))} | {_num(p['cycles'])} | {_num(p['luts'])} "
            f"| {_num(p['brams'])} | {_num(p['dsps'])} |"
        )
    skipped = d["steps"]["skipped"]
    reasons = sorted({x["reason"] for x in skipped})
    lines += [
        "",
        f"FINN steps run: {d['steps']['ran']}; skipped: {len(skipped)} ("
        + ", ".join(f"`{x['step']}`" for x in skipped)
        + ")"
        + (f"; reason: {'; '.join(reasons)}" if reasons else ""),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "numbers"), help="output folder")
    ap.add_argument("--keep", default=None, help="run folder to keep (default: a temp folder)")
    ap.add_argument(
        "--run-args",
        default=None,
        help="options for `fewerbits run` (default: the Makefile's DEMO_ARGS)",
    )
    a = ap.parse_args(argv)
    args = shlex.split(a.run_args) if a.run_args is not None else demo_args()
    date = datetime.date.today().isoformat()
    with tempfile.TemporaryDirectory(prefix="fewerbits-docs-numbers-") as tmp:
        run_dir = Path(a.keep) if a.keep else Path(tmp) / "demo"
        wall, rc = run_demo(run_dir, args)
        numbers = {"date": date, "machine": machine(), "versions": versions()}
        numbers |= collect(run_dir, wall, rc, tuple(args))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo.json").write_text(json.dumps(numbers, indent=2) + "\n")
    (out / "demo.md").write_text(render_md(numbers))
    print(f"wrote {out / 'demo.json'} and {out / 'demo.md'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
