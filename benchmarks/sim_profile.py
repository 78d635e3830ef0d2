"""Where the stitched Verilator model spends its time: the model built with Verilator's
``--prof-cfuncs`` (every generated C++ function named after the Verilog module and line it
comes from), run under Linux ``perf``, samples summed per finn-rtllib module and per line.

    .venv/bin/python benchmarks/sim_profile.py BUILD [--frames 1000] [--out runs/bench-sim-profile]
                                               [--simulator verilator]

Needs ``perf`` (linux-perf). Writes OUT/sim_profile.json and prints a Markdown table: share of
the samples per module (the rest: Verilator's scheduler and inlined statements, which carry no
source name).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from fewerbits.hw.sim import get_backend
from fewerbits.hw.sim.verilator.backend import VerilatorBackend


def profiled(base: type[VerilatorBackend]) -> type[VerilatorBackend]:
    """Back end ``base`` with per-source function names and debug symbols."""

    class Profiled(base):
        name = f"{base.name}-profiled"

        def flags(self, top: str = "fb_top") -> list[str]:
            return [*super().flags(top), "--prof-cfuncs", "-CFLAGS", "-g"]

    return Profiled


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("build")
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--out", default="runs/bench-sim-profile")
    p.add_argument("--simulator", default="verilator", help="a Verilator back end's name")
    a = p.parse_args()
    perf = shutil.which("perf")
    if perf is None:
        print("sim_profile: `perf` not found (apt-get install linux-perf)", file=sys.stderr)
        return 2
    from fewerbits.hw.rtlsim.sim import Stitched, random_input

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FEWERBITS_CACHE"] = tmp
        st = Stitched(Path(a.build))
        st.backend = profiled(type(get_backend(a.simulator)))()
        x = random_input(st.geo.idt, (a.frames, *st.geo.in_normal[1:]), np.random.default_rng(0))
        st.compile()
        # the harness runs under perf: wrap the binary in a script that records the samples
        data = Path(tmp) / "perf.data"
        exe = st.binary.path
        wrapper = Path(tmp) / "profiled"
        wrapper.write_text(f'#!/bin/sh\nexec {perf} record -q -o {data} {exe} "$@"\n')
        wrapper.chmod(0o755)
        st.binary.path = wrapper
        res = st.run_words(st.geo.pack_in(x), a.frames)
        rep = subprocess.run(
            [perf, "report", "-i", str(data), "--no-children", "--stdio", "-q"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    modules: dict[str, float] = defaultdict(float)
    lines: dict[str, float] = defaultdict(float)
    total = 0.0
    for ln in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+\S+\s+\S+\s+\[\.\]\s+(\S+)", ln)
        if not m:
            continue
        pct, sym = float(m.group(1)), m.group(2)
        total += pct
        src = re.search(r"PROF__(\w+?)__l(\d+)", sym)
        key = src.group(1) if src else "(scheduler / inlined, no source name)"
        modules[key] += pct
        if src:
            lines[f"{src.group(1)}.sv:{src.group(2)}"] += pct
    rows = sorted(modules.items(), key=lambda kv: -kv[1])
    top_lines = sorted(lines.items(), key=lambda kv: -kv[1])[:10]
    print(
        f"{a.simulator}: {a.frames} frames, {res.cycles:,} cycles, {res.cpu_seconds:.2f} CPU s; "
        f"{a.build}"
    )
    print("| module | share of samples |")
    print("|---|---:|")
    for k, v in rows:
        if v >= 0.5:
            print(f"| {k} | {v:.1f} % |")
    print("| line | share |")
    print("|---|---:|")
    for k, v in top_lines:
        print(f"| {k} | {v:.1f} % |")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sim_profile.json").write_text(
        json.dumps(
            {
                "simulator": a.simulator,
                "frames": a.frames,
                "cycles": res.cycles,
                "modules": dict(rows),
                "lines": top_lines,
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
