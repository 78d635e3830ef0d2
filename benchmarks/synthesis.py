"""Yosys synthesis and nextpnr place-and-route of the demo accelerator (and the tiny test net),
against FINN's estimates.

For each net (trained briefly on MNIST-5k, built all-RTL through code generation, reused when
already in --out) and each target, runs ``fewerbits synth`` on a copy of the build and prints
one row: design | family | LUT/FF/BRAM/DSP synthesized | FINN estimate | ratio | Fmax | wall
time. Targets: Pynq-Z1 xc7 (per layer, so the report compares each layer with FINN), ULX3S-85F
ECP5 with place and route (Fmax against its 25 MHz clock) and, with --ice40, iCEBreaker.
The board rows (``--board-images N``, default 1,000; 0 skips them) are `fewerbits build EXPORT
--board ULX3S-85F`: the UART wrapper + accelerator to a bitstream (hw/board), then N test
images through the driver's serial code path against the Verilator simulation of that board
top (bit-level UART), compared bit-exactly with PyTorch.

    .venv/bin/python benchmarks/synthesis.py [--out runs/bench-synth] [--nets demo,tiny]
                                             [--no-pnr] [--ice40] [--board-images N]
                                             [--targets Pynq-Z1,ULX3S-85F,board]

Writes OUT/synthesis.json and OUT/synthesis.md (the table, dated). The first run also pays the
one-time WebAssembly compilation of Yosys/nextpnr (about a minute each, cached).
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import time
from pathlib import Path

from fewerbits.hw.build import steps as S
from fewerbits.hw.build.report import read_estimates
from fewerbits.hw.synth.build import synthesize_build

from fewerbits.core.artifacts import BuildDir
from fewerbits.core.files import read_json

ROOT = Path(__file__).resolve().parents[1]
NETS = {
    "demo": dict(model="tfc", epochs=2),  # TFC w2a2, 784-64-64-64-10
    "tiny": dict(model=f"{ROOT / 'tests' / 'tiny_net.py'}:tiny", epochs=1, max_steps=50),
}
#: (label, family, board, per layer, place and route)
TARGETS = [
    ("Pynq-Z1", "xc7", "Pynq-Z1", True, False),
    ("ULX3S-85F", "ecp5", "ULX3S-85F", False, True),
]
ICE40 = ("iCEBreaker", "ice40", "iCEBreaker", False, True)


def make_run(out: Path, spec: dict) -> Path:
    from fewerbits.core.config import RunConfig, TrainConfig
    from fewerbits.pipeline import run

    if not BuildDir(out / "build").model_after(S.HW_CODEGEN).is_file():
        cfg = RunConfig(
            train=TrainConfig(**spec), verify_samples=20, verify_skip=["rtl_nodes", "rtl_stitched"]
        )
        run(cfg, out, progress=False)
    return out / "build"


def finn_totals(build: Path) -> dict:
    """FINN's estimate for the whole build (LUT, BRAM36, DSP; FINN does not estimate DWCs)."""
    est = read_estimates(BuildDir(build))
    return {k: est[k] for k in ("luts", "brams", "dsps")} if est else {}


#: the block RAM figure per family, in the part's own unit (BRAM36 equivalents, DP16KD, 4 kbit)
BRAM_UNIT = {"xc7": "BRAM36", "ecp5": "DP16KD", "ice40": "SB_RAM40_4K"}


def bram_of(family: str, r: dict) -> float:
    return {"xc7": r["BRAM36"] + r["BRAM18"] / 2, "ecp5": r["BRAM18"], "ice40": r["BRAM4K"]}[family]


def row(net: str, label: str, s: dict, est: dict, seconds: float) -> dict:
    r = s["total"]["resources"]
    lut = r["LUT"] + r["LUTRAM"]
    bram = bram_of(s["family"], r)
    pnr = s.get("pnr") or {}
    return {
        "design": net,
        "target": label,
        "family": s["family"],
        "lut": lut,
        "ff": r["FF"],
        "bram": bram,
        "bram_unit": BRAM_UNIT[s["family"]],
        "dsp": r["DSP"],
        "finn_lut": est.get("luts"),
        "finn_bram36": est.get("brams"),
        "finn_dsp": est.get("dsps"),
        "lut_ratio": round(lut / est["luts"], 1) if est.get("luts") else None,
        "dsp_ratio": round(r["DSP"] / est["dsps"], 2) if est.get("dsps") else None,
        "fmax_mhz": pnr.get("fmax_mhz"),
        "clock_mhz": pnr.get("target_mhz"),
        "percent": s["total"]["percent"],
        "synth_seconds": s["seconds"],
        "pnr_seconds": pnr.get("seconds"),
        "wall_seconds": round(seconds, 1),
        "layers": [
            {k: lay[k] for k in ("name", "op_type", "resources", "finn", "ratio")}
            for lay in s["layers"]
        ],
        "fifos_and_glue": s.get("fifos_and_glue"),
    }


def board_row(net: str, run_dir: Path, images: int) -> dict:
    """`fewerbits build EXPORT --board ULX3S-85F` (the board bitstream), then ``images`` test
    images through the simulated board top vs PyTorch."""
    import numpy as np
    from fewerbits.hw.build import build
    from fewerbits.hw.driver import Accelerator
    from fewerbits.train.datasets import load_dataset
    from fewerbits.train.trainer import load_checkpoint

    from fewerbits.core.artifacts import ExportDir
    from fewerbits.core.config import BuildConfig
    from fewerbits.verify import pytorch_reference

    work = run_dir.parent / f"{net}-ULX3S-85F-board"
    t0 = time.time()
    model = ExportDir(run_dir / "export").model
    build(model, work, BuildConfig(board="ULX3S-85F"), progress=False, resume=True)
    wall = time.time() - t0
    b = read_json(work / "board" / "board.json")
    s = {
        "family": "ecp5",
        "total": {"resources": b["synth"]["resources"], "percent": b["synth"]["percent"]},
        "pnr": b["pnr"],
        "seconds": b["synth"]["seconds"],
        "layers": [],
    }
    # wall time: the board step's synthesis + place and route as it recorded them (a resumed
    # build reuses it); the whole build including FINN's steps in board.build_seconds
    r = row(net, "ULX3S-85F board top", s, finn_totals(work), b["seconds"])
    r["board"] = {
        "link": b["link"],
        "bitstream_bytes": b["pnr"]["bitstream_bytes"],
        "build_seconds_this_run": round(wall, 1),
    }
    r["critical_path"] = b["pnr"]["critical_path"]
    if images:
        net_model, _ = load_checkpoint(run_dir / "train")
        x = load_dataset("mnist-5k").x_test[:images]
        ref = pytorch_reference(net_model, x.astype(np.float32)).astype(np.float32)
        t0 = time.time()
        with Accelerator(work / "deploy", backend="rtlsim") as acc:
            y = acc.execute(x).astype(np.float32)
            cycles = acc.backend.board.link.cycles
        secs = time.time() - t0
        exact = int(np.all(y.view(np.int32) == ref.view(np.int32), axis=1).sum())
        r["board"]["rtlsim"] = {
            "images": len(x),
            "bit_exact": exact,
            "seconds": round(secs, 1),
            "frames_per_s": round(len(x) / secs, 2),
            "simulated_cycles": int(cycles),
            "link_seconds_on_the_board": round(cycles / (b["link"]["clock_mhz"] * 1e6), 3),
        }
    return r


def board_table(rows: list[dict]) -> str:
    """The board-top simulation runs (bit-exact vs PyTorch, time)."""
    out = [
        "| design | board | bitstream | UART | images bit-exact vs PyTorch | simulation wall time "
        "| simulated link time on the board |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        b = r.get("board") or {}
        sim = b.get("rtlsim")
        if not sim:
            continue
        link = b["link"]
        out.append(
            f"| {r['design']} | {link['board']} | {b['bitstream_bytes']:,} bytes | "
            f"{link['baud']:,} baud ({link['clks_per_bit']} clocks/bit) | "
            f"{sim['bit_exact']:,} / {sim['images']:,} | {sim['seconds']} s "
            f"({sim['frames_per_s']} frames/s) | {sim['link_seconds_on_the_board']} s |"
        )
    return "\n".join(out) + "\n" if len(out) > 2 else ""


def table(rows: list[dict]) -> str:
    head = (
        "| design | family | LUT / FF / BRAM / DSP synthesized | FINN estimate (LUT / BRAM36 / DSP)"
        " | ratio LUT / DSP | Fmax (clock) | wall time |\n|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        fin = (
            f"{r['finn_lut']:,.0f} / {r['finn_bram36']:g} / {r['finn_dsp']:g}"
            if r["finn_lut"] is not None
            else "–"
        )
        fmax = f"{r['fmax_mhz']} MHz ({r['clock_mhz']:g})" if r["fmax_mhz"] else "–"
        lines.append(
            f"| {r['design']} | {r['family']} ({r['target']}) | {r['lut']:,} / {r['ff']:,} / "
            f"{r['bram']:g} {r['bram_unit']} / {r['dsp']} | {fin} | {r['lut_ratio'] or '–'} / {r['dsp_ratio'] or '–'}"
            f" | {fmax} | {r['wall_seconds']} s |"
        )
    return head + "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/bench-synth")
    ap.add_argument("--nets", default="demo,tiny", help=f"comma list of {', '.join(NETS)}")
    ap.add_argument("--no-pnr", action="store_true", help="synthesis only")
    ap.add_argument("--ice40", action="store_true", help="also iCEBreaker (small nets only)")
    ap.add_argument(
        "--targets",
        default="Pynq-Z1,ULX3S-85F,board",
        help="comma list of Pynq-Z1, ULX3S-85F, iCEBreaker (as --ice40), board",
    )
    ap.add_argument(
        "--board-images",
        type=int,
        default=1000,
        help="test images through the simulated ULX3S board top (0: no board rows)",
    )
    a = ap.parse_args()
    out = Path(a.out)
    wanted = set(a.targets.split(",")) | ({"iCEBreaker"} if a.ice40 else set())
    targets = [tg for tg in [*TARGETS, ICE40] if tg[0] in wanted]
    rows = []
    for net in a.nets.split(","):
        if net not in NETS:
            print(f"--nets: unknown net {net!r}; choose from {', '.join(NETS)}", file=sys.stderr)
            return 1
        build = make_run(out / net, NETS[net])
        for label, family, board, per_layer, pnr in targets:
            work = out / f"{net}-{label}"
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(build, work, symlinks=True)
            print(f"{net} -> {label} ({family})...", file=sys.stderr, flush=True)
            t0 = time.time()
            s = synthesize_build(
                work, family, per_layer, board=board, pnr=pnr and not a.no_pnr, progress=False
            )
            rows.append(row(net, label, s, finn_totals(work), time.time() - t0))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
        if "board" in wanted and not a.no_pnr:
            print(
                f"{net} -> ULX3S-85F board top (build, {a.board_images} images)...", file=sys.stderr
            )
            rows.append(board_row(net, build.parent, a.board_images))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    date = datetime.date.today().isoformat()
    md = f"# Synthesis benchmark ({date}, `benchmarks/synthesis.py`)\n\n" + table(rows)
    boards = board_table(rows)
    md += f"\nBoard top in simulation (same run):\n\n{boards}" if boards else ""
    (out / "synthesis.json").write_text(json.dumps({"date": date, "rows": rows}, indent=2) + "\n")
    (out / "synthesis.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
