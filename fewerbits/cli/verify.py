"""`fewerbits verify`: every available verification level on a build, export or run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from fewerbits.cli.common import add_simulator_arg, simulator


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "verify", help="run every available verification level on a build or export folder"
    )
    p.add_argument("dir", help="a build, export or run folder")
    p.add_argument(
        "--input",
        default=None,
        help="X.npy: float32 inputs in the PyTorch model's layout (N,C,H,W or N,C)",
    )
    p.add_argument(
        "--samples", type=int, default=None, help="use the first N inputs (default: all; 0 = all)"
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE.json",
        help="where to write the result (default: DIR/verify.json, or X.verify.json beside "
        "--input X.npy)",
    )
    p.add_argument(
        "--export",
        default=None,
        metavar="DIR",
        help="the export folder a build was made from (default: the one its report names, "
        "else a sibling folder named export)",
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="LEVEL",
        help="leave a level out (repeatable), e.g. --skip rtl_nodes; it is reported as skipped",
    )
    p.add_argument(
        "--with",
        dest="include",
        action="append",
        default=[],
        metavar="LEVEL",
        help="also run an opt-in level (repeatable), e.g. --with netlist (Yosys + Verilator)",
    )
    add_simulator_arg(p, "simulator back end of the RTL levels (default %(default)s)")
    p.add_argument(
        "--trace",
        action="store_true",
        help="when an RTL level fails: write an FST waveform around the first wrong word of "
        "the first wrong layer (BUILD/rtlsim/mismatch/mismatch.fst; open it with gtkwave)",
    )
    return p


def main(a: argparse.Namespace) -> int:
    from fewerbits.verify import verify_directory

    out = verify_directory(
        Path(a.dir),
        Path(a.input) if a.input else None,
        a.samples,
        progress=not a.quiet,
        skip=tuple(a.skip),
        include=tuple(a.include),
        export_dir=Path(a.export) if a.export else None,
        out_file=Path(a.out) if a.out else None,
        waveform=a.trace,
        simulator=simulator(a),
    )
    for lv in out["levels"]:
        if lv["status"] == "skipped":
            print(f"  {lv['name']:<16} skipped  {lv['reason']}")
        else:
            ints = (lv.get("integers") or {}).get("summary")
            print(
                f"  {lv['name']:<16} {lv['status']:<8} {lv['bit_exact']}/{lv['samples']} "
                f"bit-exact, max {lv['max_ulp']} ULP, {lv['seconds']} s"
                + (f"; integers: {ints}" if ints else "")
                + (f"  [{lv['reason']}]" if lv.get("reason") else "")
            )
    print(out["summary"])
    print(f"wrote {out['json']}")
    return 0 if out["all_passed"] else 1
