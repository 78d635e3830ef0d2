"""finn-plus 1.6.1 ``MVAU_rtl`` (finn-rtllib ``mvu/mvu_vvu_axi.sv``): with ``SIMD == MW`` (a
whole row per cycle, one output every cycle) and backpressure on the output stream, the
output queue overflows -- the simulation stops at the module's own assertion
``mvu_vvu_axi.sv:376: Overflowing output queue`` (its queue holds ``CORE_PIPELINE_DEPTH``
results, "conservative", but the input side keeps issuing one row per cycle while the output
is stalled). Seen on the first conv layer of CNV (MW = 9 or 27) in a stitched accelerator,
where a full FIFO stalls the layer.

Workaround: ``--fit`` never chooses ``SIMD == MW`` for an ``MVAU_rtl`` (:func:`simd_allowed`);
when FINN's own SetFolding (``--target-fps``) chose it, the build lowers SIMD to the largest
smaller divisor of MW (hw/folding.avoid_mvau_rtl_overflow, listed as ``simd_lowered``); a
``--folding`` file with it is refused in one line (:func:`problem`).
"""

from __future__ import annotations

#: the upstream version the symptom was seen with
FINN_VERSION = "finn-plus 1.6.1"


def simd_allowed(op_type: str, mw: int, simd: int) -> bool:
    """False for the folding that overflows FINN's MVAU_rtl output queue (SIMD == MW > 1)."""
    return not (op_type == "MVAU_rtl" and mw > 1 and simd == mw)


def problem(op_type: str, mw: int, simd: int) -> str | None:
    """The one-line reason a folding is refused, or None."""
    if simd_allowed(op_type, mw, simd):
        return None
    return (
        f"SIMD={simd} == MW: {FINN_VERSION}'s MVAU_rtl overflows its output queue under "
        "backpressure (mvu_vvu_axi.sv assertion); use SIMD < MW"
    )
