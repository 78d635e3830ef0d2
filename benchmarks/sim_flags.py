"""Verilator flag variants on one stitched build: build time, simulated frames/s and cycles per
wall and per CPU second, and bit-exactness against the default back end (same inputs, stalls).

    .venv/bin/python benchmarks/sim_flags.py BUILD [--frames 2000] [--out runs/bench-sim-flags]
                                             [--threads] [--simulator verilator]

Variants: the default (C++ -O1, --x-assign 0, 1 thread, assertions on), C++ -O2, -O3, -O3 with
--x-assign fast, -O3 without FINN's immediate assertions (--no-assert), -O3 with
-march=native; --threads adds -O3 with --threads 2 (Verilator's worker threads spin: on a busy
2-core machine that is far slower). Every variant is a cold build (a fresh cache). Writes
OUT/sim_flags.json and prints a Markdown table.
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
from fewerbits.hw.sim import get_backend
from fewerbits.hw.sim.verilator.backend import VerilatorBackend


def variants(base: type[VerilatorBackend], threads: bool = False) -> list[type]:
    """``base`` (a Verilator back end class) and its flag variants."""

    def opt(level: str) -> type:
        return type(
            f"{base.__name__}{level}", (base,), {"name": f"{base.name}{level}", "opt": level}
        )

    o3 = opt("-O3")

    def o3_with(suffix: str, setting=None, extra=()) -> type:
        def flags(self, top: str = "fb_top") -> list[str]:
            f = o3.flags(self, top)
            if setting:
                f[f.index(setting[0]) + 1] = setting[1]
            return [*f, *extra]

        return type(f"{o3.__name__}{suffix}", (o3,), {"name": f"{o3.name}{suffix}", "flags": flags})

    out = [
        base,
        opt("-O2"),
        o3,
        o3_with("-xfast", ("--x-assign", "fast")),
        o3_with("-no-assert", extra=("--no-assert",)),
        o3_with("-march-native", extra=("-CFLAGS", "-march=native")),
    ]
    return out + ([o3_with("-threads2", ("--threads", "2"))] if threads else [])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("build")
    p.add_argument("--frames", type=int, default=2000)
    p.add_argument("--out", default="runs/bench-sim-flags")
    p.add_argument("--threads", action="store_true", help="also the --threads 2 variant")
    p.add_argument("--simulator", default="verilator", help="the Verilator back end to vary")
    a = p.parse_args()
    from fewerbits.hw.rtlsim.sim import Stitched, random_input

    rows, ref = [], None
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FEWERBITS_CACHE"] = cache  # cold builds: compile time is measured
        st = Stitched(Path(a.build))
        x = random_input(st.geo.idt, (a.frames, *st.geo.in_normal[1:]), np.random.default_rng(0))
        words = st.geo.pack_in(x)
        for cls in variants(type(get_backend(a.simulator)), a.threads):
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
                    "cpu_s": round(res.cpu_seconds, 3),
                    "frames_per_s": round(a.frames / res.seconds, 1),
                    "frames_per_cpu_s": round(a.frames / res.cpu_seconds, 1),
                    "cycles_per_wall_s": round(res.cycles / res.seconds),
                    "cycles_per_cpu_s": round(res.cycles / res.cpu_seconds),
                    "cycles": res.cycles,
                    "bit_exact_vs_default": bool(np.array_equal(res.out, ref)),
                    "cache_key": b.key,
                }
            )
    base = rows[0]["cycles_per_cpu_s"]
    print(f"{a.simulator}: {a.frames} frames, {rows[0]['cycles']:,} cycles, build {a.build}")
    print(
        "| variant | build s | sim wall s | sim CPU s | frames/s (per CPU s) "
        "| simulated cycles / wall s (per CPU s) | CPU speed vs default | bit-exact |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['variant']} | {r['build_s']} | {r['sim_s']} | {r['cpu_s']} "
            f"| {r['frames_per_s']:,.0f} ({r['frames_per_cpu_s']:,.0f}) "
            f"| {r['cycles_per_wall_s']:,} ({r['cycles_per_cpu_s']:,}) "
            f"| {r['cycles_per_cpu_s'] / base:.2f}x | {r['bit_exact_vs_default']} |"
        )
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sim_flags.json").write_text(
        json.dumps({"simulator": a.simulator, "frames": a.frames, "rows": rows}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
