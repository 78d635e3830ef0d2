"""Where the Verilator code used to live; it is now the ``verilator`` back end of the simulator
seam (:mod:`fewerbits.hw.sim.verilator`). These names stay importable from here for the modules
and tests that still say ``hw.rtlsim.verilator`` (e.g. :mod:`.levels`)."""

from __future__ import annotations

from ..sim.protocol import Binary, RtlSimError
from ..sim.protocol import StreamResult as SimResult
from ..sim.verilator import cache_root, verilator_flags, verilator_root, verilator_version

__all__ = [
    "Binary",
    "RtlSimError",
    "SimResult",
    "cache_root",
    "verilator_flags",
    "verilator_root",
    "verilator_version",
]
