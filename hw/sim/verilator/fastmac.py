"""The ``verilator-fastmac`` back end: Verilator with a cheaper behavioural model of the DSP
MAC array under FINN's MVAU_rtl.

finn-rtllib's ``mvu`` (mvu/mvu.sv) models the DSP48 slices bit by bit: several PEs packed into
one wide multiply, cross-lane canaries, an adder tree per lane. Under Verilator that is the
largest share of the simulation time (benchmarks/results/sim_profile.md). :file:`mvu_fast.sv`
is a module of the same name, parameters, ports and cycle timing that computes each PE's dot
product directly; this back end compiles it in place of ``mvu.sv`` and is otherwise the
default back end. It simulates FINN's interfaces and timing but not FINN's MAC arithmetic
itself, so the verification levels keep the default ``verilator`` (FINN's own model); use this
one for speed (FIFO sizing, throughput runs). ``tests/test_sim_fastmac.py`` proves both give the
same outputs and cycle counts on a stitched accelerator.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..protocol import Binary, Design
from ..registry import register_backend
from .backend import VerilatorBackend

#: the cheap model (module ``mvu``) and the finn-rtllib file it replaces
MODEL = Path(__file__).with_name("mvu_fast.sv")
REPLACES = "mvu.sv"


def with_fast_mac(design: Design) -> Design:
    """``design`` with finn-rtllib's ``mvu.sv`` replaced by :data:`MODEL` (unchanged when the
    design has no MVU)."""
    if REPLACES not in design.sources:
        return design
    return dataclasses.replace(design, sources={**design.sources, REPLACES: MODEL.read_text()})


@register_backend
class VerilatorFastMacBackend(VerilatorBackend):
    """The default Verilator back end with :data:`MODEL` in place of finn-rtllib's mvu.sv."""

    name = "verilator-fastmac"

    def compile(self, design: Design) -> Binary:
        return super().compile(with_fast_mac(design))
