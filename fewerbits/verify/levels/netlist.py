"""Level ``netlist``: the all-RTL accelerator synthesized by Yosys, and that gate-level netlist
simulated by Verilator through the same harness as ``rtl_stitched`` (the ``netlist`` simulator
back end, hw/sim/netlist), compared with PyTorch bit-exact, with cycles/frame.

The netlist keeps FINN's real DSP48E1/LUT6_2 primitives (the behavioural RTL levels never run
them) and is synthesized with ``-nobram``: Yosys's block-RAM simulation models are port-only.
The result says so (``netlist_options``). Opt-in (synthesis + a netlist compile take minutes):
``fewerbits verify BUILD --with netlist``.
"""

from __future__ import annotations

import numpy as np

from fewerbits.core.compare import LevelResult
from fewerbits.hw.rtlsim.sim import Stitched
from fewerbits.hw.sim import get_backend
from fewerbits.hw.sim.netlist import NOTE

from ..level import register_level
from .rtl import RtlStitchedLevel

SIMULATOR = "netlist"


@register_level
class NetlistLevel(RtlStitchedLevel):
    """The synthesized netlist of the whole accelerator in one Verilator model."""

    name = "netlist"
    rank = 85
    opt_in = True

    def use_simulator(self, name: str) -> None:
        """Always the netlist back end (``--simulator`` chooses the behavioural levels')."""

    def available(self) -> str | None:
        return get_backend(SIMULATOR).available() or super().available()

    def run(self, x: np.ndarray) -> np.ndarray:
        if self.stitched is None:
            self.stitched = Stitched(self.build.path, simulator=SIMULATOR)
        return self.stitched.run(x)

    def numbers(self, result: LevelResult | None) -> dict:
        return {**super().numbers(result), "simulator": SIMULATOR, "netlist_options": NOTE}
