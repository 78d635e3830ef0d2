"""`fewerbits fifo`: size every inter-layer FIFO of a build by simulating the stitched RTL."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fewerbits.cli.common import add_simulator_arg, simulator


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "fifo",
        help="size the FIFOs between layers by simulation (no Vivado); depths into folding.json",
    )
    p.add_argument("build_dir", help="an all-RTL build folder (built until codegen)")
    p.add_argument(
        "--frames",
        type=int,
        default=64,
        help="back-to-back frames per sizing run (default 64; at least 8)",
    )
    p.add_argument(
        "--no-search",
        action="store_true",
        help="keep the depths the occupancy measurement gives (no bisection of FIFOs deeper "
        "than 32 at equal cycles/frame)",
    )
    add_simulator_arg(p, "simulator back end (default %(default)s)")
    return p


def main(a: argparse.Namespace) -> int:
    from fewerbits.hw.rtlsim.fifo import size_fifos

    def say(msg: str) -> None:
        if not a.quiet:
            print(f"[fewerbits fifo] {msg}", file=sys.stderr, flush=True)

    r = size_fifos(
        Path(a.build_dir),
        frames=a.frames,
        simulator=simulator(a),
        progress=say,
        search=not a.no_search,
    )
    for f in r["fifos"]:
        searched = (
            f" (searched down from {f['depth_measured']})"
            if f["depth_measured"] != f["depth"]
            else ""
        )
        print(
            f"  FIFO {f['index']}  {f['producer']} -> {f['consumer']}  {f['width']} bit: "
            f"max occupancy {f['max_occupancy']} / {f['max_occupancy_backpressure']} "
            f"(back-pressure), depth {f['depth_before']} -> {f['depth']}{searched}"
        )
    s, cyc = r["saved"], r["cycles_per_frame"]
    print(
        f"cycles/frame {cyc['sized'][0]:g} (deep FIFOs {cyc['deep'][0]:g}), bit-exact; saved vs "
        f"depth {r['fifos'][0]['depth_before']}: {s['luts']:g} LUT, {s['ffs']} FF, "
        f"{s['brams']:g} BRAM36 ({r['seconds']} s); {r['folding_config']}"
    )
    return 0
