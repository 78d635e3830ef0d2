"""Verilator flag variants on one stitched build: build time, simulated frames/s and cycles per
wall second, and bit-exactness against the default back end (same inputs, same stalls).

    .venv/bin/python benchmarks/sim_flags.py BUILD [--frames 2000] [--out runs/bench-sim-flags]

Variants: the default (-O1, --x-assign 0, 1 thread), -O3, -O3 with --x-assign fast, -O3 with
--threads 2. Writes OUT/sim_flags.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from fewerbits.hw.sim.verilator.backend import VerilatorBackend


class O3(VerilatorBackend):
    name = "verilator-O3"
    opt = "-O3"


class _O3With(O3):
    """-O3 with one flag's value replaced (``setting`` = (flag, value))."""

    setting: tuple[str, str] = ("--threads", "1")

    def flags(self, top: str = "fb_top") -> list[str]:
        f = super().flags(top)
        f[f.index(self.setting[0]) + 1] = self.setting[1]
        return f


class O3XFast(_O3With):
    name = "verilator-O3-xfast"
    setting = ("--x-assign", "fast")


class O3Threads2(_O3With):
    name = "verilator-O3-threads2"
    setting = ("--threads", "2")


VARIANTS = [VerilatorBackend, O3, O3XFast, O3Threads2]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("build")
    p.add_argument("--frames", type=int, default=2000)
    p.add_argument("--out", default="runs/bench-sim-flags")
    a = p.parse_args()
    from fewerbits.hw.rtlsim.sim import Stitched, random_input

    rows, ref = [], None
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FEWERBITS_CACHE"] = cache  # cold builds: compile time is measured
        st = Stitched(Path(a.build))
        x = random_input(st.geo.idt, (a.frames, *st.geo.in_normal[1:]), np.random.default_rng(0))
        words = st.geo.pack_in(x)
        for cls in VARIANTS:
            print(f"[sim_flags] {cls.name}", file=sys.stderr, flush=True)
            st.backend, st.binary = cls(), None
            t0 = time.time()
            b = st.compile()
            build_s = time.time() - t0
            res = st.run_words(words, a.frames, (0, 0), 1)
            ref = res.out if ref is None else ref
            rows.append(
                {
                    "variant": cls.name,
                    "build_s": round(build_s, 1),
                    "sim_s": round(res.seconds, 3),
                    "frames_per_s": round(a.frames / res.seconds, 1),
                    "cycles_per_wall_s": round(res.cycles / res.seconds),
                    "cycles": res.cycles,
                    "bit_exact_vs_default": bool(np.array_equal(res.out, ref)),
                    "cache_key": b.key,
                }
            )
    print("| variant | build s | sim s | frames/s | simulated cycles / wall s | bit-exact |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['variant']} | {r['build_s']} | {r['sim_s']} | {r['frames_per_s']:,.0f} "
            f"| {r['cycles_per_wall_s']:,} | {r['bit_exact_vs_default']} |"
        )
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sim_flags.json").write_text(
        json.dumps({"frames": a.frames, "rows": rows}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
