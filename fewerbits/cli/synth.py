"""`fewerbits synth`: Yosys synthesis of a build's generated RTL (no Vivado)."""

from __future__ import annotations

import argparse
from pathlib import Path

# the family table itself (light: no Yosys is loaded), so the choices are never typed twice
from fewerbits.hw.synth.families import FAMILIES


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "synth",
        help="synthesize a build's RTL with Yosys: real LUT/FF/BRAM/DSP counts beside FINN's",
    )
    p.add_argument("build", help="a build folder after code generation (--until codegen)")
    p.add_argument(
        "--family",
        choices=tuple(FAMILIES),
        default=None,
        help="FPGA family to map to (default: the family of the build's board)",
    )
    p.add_argument(
        "--per-layer",
        action="store_true",
        help="also synthesize every RTL layer on its own (the report compares them with FINN)",
    )
    p.add_argument(
        "--board",
        default=None,
        help="board whose part sizes the %% figures and is placed and routed for "
        "(default: the build's board)",
    )
    p.add_argument(
        "--pnr",
        action="store_true",
        help="place and route with nextpnr and write the bitstream (ECP5/iCE40 boards only)",
    )
    p.add_argument("--nobram", action="store_true", help="no block-RAM inference")
    p.add_argument("--nodsp", action="store_true", help="no DSP inference")
    return p


def main(a: argparse.Namespace) -> int:
    from fewerbits.core.artifacts import BuildDir
    from fewerbits.hw.synth.build import synthesize_build

    s = synthesize_build(
        Path(a.build),
        a.family,
        per_layer=a.per_layer,
        nobram=a.nobram,
        nodsp=a.nodsp,
        progress=not a.quiet,
        board=a.board,
        pnr=a.pnr,
    )
    for lay in s["layers"]:
        r = lay["resources"]
        print(f"  {lay['name']:<36} {r['LUT']:>7,} LUT {r['FF']:>7,} FF {r['DSP']:>4} DSP")
    for n in s["not_synthesizable"]:
        print(f"  {n['name']:<36} not synthesizable here: {n['reason']}")
    t = s["total"]
    if t:
        r = t["resources"]
        print(
            f"{s['family']}: {r['LUT']:,} LUT + {r['LUTRAM']:,} LUTRAM, {r['FF']:,} FF, "
            f"BRAM {r['BRAM36']}x36 + {r['BRAM18']}x18 + {r['BRAM4K']}x4K, {r['DSP']} DSP "
            f"in {s['seconds']} s"
        )
    else:
        print(s["total_reason"])
    print(
        f"netlists and logs: {Path(a.build) / 'synth'}; report: {BuildDir(Path(a.build)).report_md}"
    )
    return 0
