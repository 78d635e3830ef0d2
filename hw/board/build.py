"""The board bitstream of a code-generated all-RTL build for an open-FPGA board.

:class:`BoardPlan` collects what the board top needs from a build folder (the stitched
accelerator's designs and FIFO depths, the board, the link parameters); :func:`make_bitstream`
synthesizes the board top with Yosys, places and routes it with nextpnr at the board's clock
with its pin file and packs the bitstream, into ``BUILD/board/`` (``board.json``: link,
resources, Fmax, utilisation, critical path). The build step of :mod:`.step` calls it; the
simulated board top (:mod:`.sim`) is built from the same plan, so it is the design that went
into the bitstream.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from fewerbits.core.artifacts import BuildDir
from fewerbits.core.files import read_json, write_json

from ..boards import Board, get_board
from ..build.report import read_estimates
from ..rtlsim import design
from ..rtlsim.sim import BuildGraphs, build_link_depths, geometry
from ..sim import Design, RtlSimError
from ..synth.families import percent_of_part
from ..synth.pnr import place_and_route
from ..synth.protocol import SynthError, SynthJob
from ..synth.registry import get_synth_backend
from . import BOARD_DIR, BOARD_JSON, wrapper


class BoardPlan:
    """The board top of the build in ``build_dir`` (all-RTL, code-generated, for an open
    board; a one-line error otherwise)."""

    def __init__(self, build_dir: Path, board: Board | None = None) -> None:
        from qonnx.custom_op.registry import getCustomOp  # lazy: qonnx after prepare_finn

        self.build_dir = Path(build_dir)
        graphs = BuildGraphs(self.build_dir)
        bdir = BuildDir(self.build_dir)
        if board is None:
            name = read_json(bdir.config).get("board") if bdir.config.is_file() else None
            board = get_board(name) if name else None
        if board is None or board.shell_flow or board.synth_family not in wrapper.PINS:
            what = board.name if board else "no known board"
            opens = ", ".join(wrapper.OPEN_BOARDS)
            raise RtlSimError(
                f"{self.build_dir}: the board top needs an open-FPGA board build ({opens}), "
                f"not {what}"
            )
        skipped = graphs.skipped()
        if skipped:
            s = skipped[0]
            raise RtlSimError(
                f"{self.build_dir}: node {s['node']} ({s['op_type']}) has no Verilog here "
                f"({s['reason']}); a board bitstream needs an all-RTL build"
            )
        self.board = board
        self.designs = [design.node_design(graphs.dataflow, n) for n in graphs.nodes]
        self.fifo_depths = build_link_depths(self.build_dir, self.designs)
        nodes = graphs.nodes
        g = geometry(getCustomOp(nodes[0]), getCustomOp(nodes[-1]))
        self.link = wrapper.link_for(board, g.in_bytes, g.in_words, g.out_bytes, g.out_words)
        est = read_estimates(bdir)
        self.cycles_per_frame = max((p["cycles"] for p in est.get("per_layer", [])), default=0)

    def design(self) -> Design:
        return wrapper.board_design(self.designs, self.fifo_depths, self.board, self.link)

    def sim_design(self, bench: Callable[[str, str, str, str], str]) -> Design:
        """The board top with a C++ bench (``bench(top, clock, rx, tx)``) for Verilator."""
        p = wrapper.pins_of(self.board)
        d = self.design()
        return replace(d, harness=bench(d.top, p.clock, p.rx, p.tx))


def make_bitstream(build_dir: Path, progress: bool = False) -> dict:
    """Synthesis -> place and route -> bitstream of the board top into ``BUILD/board/``;
    the summary (also ``board.json``). Timing not met at the board's clock is an error."""
    plan = BoardPlan(Path(build_dir))
    wrapper.check_rate(plan.link, plan.cycles_per_frame)
    backend = get_synth_backend()
    reason = backend.available()
    if reason:
        raise SynthError(reason)
    out = Path(build_dir) / BOARD_DIR
    d = plan.design()
    t0 = time.time()
    job = SynthJob("board_top", d.sources, d.top, plan.board.synth_family, data_files=d.data_files)
    if progress:
        print(f"Yosys synthesis of the {plan.board.name} board top...", flush=True)
    syn = backend.synthesize(job, out / "synth")
    dsp_note = None
    if syn.resources["DSP"] > plan.board.dsps:  # more multipliers than the part: in logic
        dsp_note = (
            f"{syn.resources['DSP']} DSP blocks inferred, the {plan.board.part} has "
            f"{plan.board.dsps}: synthesized again with the multipliers in logic (-nodsp)"
        )
        if progress:
            print(dsp_note, flush=True)
        syn = backend.synthesize(replace(job, nodsp=True), out / "synth_nodsp")
    if progress:
        print(f"nextpnr place and route for {plan.board.name}...", flush=True)
    pins = wrapper.constraints(plan.board)
    (out / pins[0]).write_text(pins[1])
    res = place_and_route(syn.netlist.with_suffix(".json"), plan.board, out / "pnr", pins)
    bit = out / f"{wrapper.TOP}{res.bitstream.suffix}"
    bit.write_bytes(res.bitstream.read_bytes())
    summary = {
        "board": plan.board.name,
        "part": plan.board.part,
        "top": wrapper.TOP,
        "bitstream": bit.name,
        "link": plan.link.to_dict(),
        "pins": {"file": pins[0], "source": wrapper.pins_of(plan.board).source},
        "clock": {"source": "board oscillator (no PLL)", "mhz": plan.board.clock_mhz},
        "accelerator_cycles_per_frame": plan.cycles_per_frame,
        "synth": {
            "resources": syn.resources,
            "percent": percent_of_part(syn.resources, plan.board.capacity()),
            "seconds": syn.seconds,
            "options": syn.options,
            "dsp_note": dsp_note,
        },
        "pnr": res.to_dict(),
        "seconds": round(time.time() - t0, 1),
    }
    write_json(out / BOARD_JSON, summary)
    if not res.timing_met:
        raise SynthError(
            f"{plan.board.name}: timing not met, Fmax {res.fmax_mhz} MHz < the board's "
            f"{plan.board.clock_mhz:g} MHz clock (critical path {res.critical_path}); "
            f"see {out / 'pnr' / 'nextpnr.log'}"
        )
    return summary
