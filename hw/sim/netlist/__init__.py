"""The gate-level back end: Yosys netlist + Verilator, registered as ``netlist``."""

from .backend import NOTE, NetlistBackend, synthesize_netlist

__all__ = ["NOTE", "NetlistBackend", "synthesize_netlist"]
