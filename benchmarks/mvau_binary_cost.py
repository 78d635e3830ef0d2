"""Where the LUTs of the binary MVAU (hw/rtl_lib/hdl/mvu_binary.sv) go: Yosys xc7 syntheses.

The core alone (no FINN wrapper) at CNV-w1a1's second conv layer (MW=576, MH=64, one
threshold: BIPOLAR output), random weights and thresholds, synthesized as ``--cost-model
synth`` measures (``synth_xilinx -family xc7`` via hw/synth's Yosys back end):

- the previous core (``--old-commit``, weights in FINN's memstream), as it is, without
  thresholds (the comparator's share), and FINN's memstream alone at the same depth/width (the
  weight storage and its output credit buffer);
- the current core with its weights in block RAM and in LUTs (``RAM_STYLE`` block / logic).

Prints a table; writes RESULTS/mvau_binary_cost.{json,md}.

    nice .venv/bin/python benchmarks/mvau_binary_cost.py [--old-commit 7b14751]
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HDL = ROOT / "hw" / "rtl_lib" / "hdl"

#: (label, MW, MH, PE, SIMD)
CONFIGS = [
    ("PE64 SIMD8 (512 lanes, 72 words)", 576, 64, 64, 8),
    ("PE8 SIMD64 (512 lanes, 72 words)", 576, 64, 8, 64),
    ("PE64 SIMD48 (3072 lanes, 12 words)", 576, 64, 64, 48),
]


def _top(mw: int, mh: int, pe: int, simd: int, nthr: int, ram: str) -> str:
    acc, tw = mw.bit_length(), (mw + 1).bit_length()
    ow = 1 if nthr == 1 else acc
    return f"""module top(input clk, input rst, input [{simd - 1}:0] s_tdata, input s_tvalid,
  output s_tready, output [{pe * ow - 1}:0] m_tdata, output m_tvalid, input m_tready);
  mvu_binary #(.MW({mw}), .MH({mh}), .PE({pe}), .SIMD({simd}), .ACCU_WIDTH({acc}),
    .N_THRESHOLDS({nthr}), .THRESHOLD_WIDTH({tw}), .OUT_WIDTH({ow}), .ACT_VAL(0),
    .WEIGHT_FILE("w.dat"), .THRESHOLD_FILE("t.dat"), .RAM_STYLE("{ram}")) core(.*);
endmodule
"""


def _memstream_top(depth: int, width: int) -> str:
    return f"""module top(input clk, input rst, input ordy, output ovld, output [{width - 1}:0] odat);
  memstream #(.SETS(1), .DEPTH({depth}), .WIDTH({width}), .INIT_FILE("w.dat")) m(
    .clk, .rst, .config_ce(1'b0), .config_we(1'b0), .config_address('0), .config_d0('0),
    .config_rack(), .config_q0(), .sidx('0), .svld(1'b0), .srdy(), .ordy, .ovld, .odat);
endmodule
"""


def synth(tag: str, sources: dict[str, str], mw: int, mh: int, pe: int, simd: int) -> dict:
    from fewerbits.hw.synth import SynthJob, get_synth_backend

    sf, nf = mw // simd, mh // pe
    ww = ((pe * simd + 7) // 8) * 8
    tw = (mw + 1).bit_length()
    rnd = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="fb-mvub-") as tmp:
        wd = Path(tmp)
        (wd / "w.dat").write_text(
            "".join(f"{rnd.getrandbits(ww):0{ww // 4}x}\n" for _ in range(nf * sf))
        )
        (wd / "t.dat").write_text(
            "".join(f"{rnd.randint(0, mw + 1):0{(tw + 3) // 4}x}\n" for _ in range(mh))
        )
        data = {"w.dat": wd / "w.dat", "t.dat": wd / "t.dat"}
        r = get_synth_backend().synthesize(
            SynthJob(tag, sources, "top", "xc7", data_files=data), wd / "y"
        )
    rs = r.resources
    return {
        "luts": rs["LUT"] + rs["LUTRAM"],
        "lutram": rs["LUTRAM"],
        "brams": rs["BRAM36"] + rs["BRAM18"] / 2,
        "ff": rs["FF"],
        "carry": rs["CARRY"],
        "seconds": r.seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-commit", default="7b14751", help="the commit of the previous core")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    a = ap.parse_args()
    from fewerbits.compat.finn.env import prepare_finn

    prepare_finn(Path(tempfile.mkdtemp(prefix="fb-mvub-finn-")))
    from finn.util.settings import get_settings

    memstream = (Path(get_settings().finn_rtllib) / "memstream/hdl/memstream.sv").read_text()
    old = subprocess.run(
        ["git", "show", f"{a.old_commit}:hw/rtl_lib/hdl/mvu_binary.sv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    from fewerbits.hw.rtl_lib.mvau_binary import MVAUBinaryRTL

    new = {f: (HDL / f).read_text() for f in MVAUBinaryRTL.core_files}
    rows = []
    t0 = time.time()
    for label, mw, mh, pe, simd in CONFIGS:
        depth, width = (mw // simd) * (mh // pe), ((pe * simd + 7) // 8) * 8
        runs = [
            ("new, weights in BRAM", {**new}, 1, "block"),
            ("new, weights in LUTs", new, 1, "logic"),
        ]
        if pe * simd <= 512:
            runs = [
                ("old", {"mvu_binary.sv": old, "memstream.sv": memstream}, 1, "auto"),
                (
                    "old, no thresholds",
                    {"mvu_binary.sv": old, "memstream.sv": memstream},
                    0,
                    "auto",
                ),
                *runs,
            ]
        for variant, srcs, nthr, ram in runs:
            got = synth(
                "mvub", {**srcs, "top.sv": _top(mw, mh, pe, simd, nthr, ram)}, mw, mh, pe, simd
            )
            rows.append({"config": label, "variant": variant, "lanes": pe * simd, **got})
            print(f"  {label:38s} {variant:24s} {got}", flush=True)
        if pe * simd <= 512:
            got = synth(
                "ms",
                {"memstream.sv": memstream, "top.sv": _memstream_top(depth, width)},
                mw,
                mh,
                pe,
                simd,
            )
            rows.append({"config": label, "variant": "memstream alone", "lanes": pe * simd, **got})
            print(f"  {label:38s} {'memstream alone':24s} {got}", flush=True)
    meta = {
        "date": datetime.date.today().isoformat(),
        "script": "benchmarks/mvau_binary_cost.py",
        "old_commit": a.old_commit,
        "command": "synth_xilinx -family xc7 (hw/synth Yosys back end)",
        "seconds": round(time.time() - t0, 1),
    }
    a.results.mkdir(parents=True, exist_ok=True)
    (a.results / "mvau_binary_cost.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n"
    )
    md = table(meta, rows)
    (a.results / "mvau_binary_cost.md").write_text(md + "\n")
    print(md)


def table(meta: dict, rows: list[dict]) -> str:
    lines = [
        f"# {meta['script']}, run {meta['date']} ({meta['command']}; old core: commit "
        f"{meta['old_commit']}; {meta['seconds']:.0f} s)",
        "",
        "MW=576, MH=64 (CNV-w1a1 conv 2), one threshold (BIPOLAR output), random weights.",
        "",
        "| configuration | variant | LUT (+LUTRAM) | LUT per lane | LUTRAM | BRAM36 | FF | CARRY4 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['variant']} | {r['luts']:,} | {r['luts'] / r['lanes']:.2f} "
            f"| {r['lutram']} | {r['brams']:g} | {r['ff']:,} | {r['carry']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
