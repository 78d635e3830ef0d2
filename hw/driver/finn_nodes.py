"""FINN hardware node names, with the standard library only.

The one mapping of specialised ``*_hls`` / ``*_rtl`` nodes back to FINN's base node types (which
execute in Python). It lives in the driver because the driver is copied into every deployment
package and must stay standalone (no fewerbits import there); fewerbits' own modules (hw/rtlsim,
the verification levels) import ``fewerbits.hw.driver.finn_nodes`` instead of keeping copies.
"""

from __future__ import annotations

#: the ONNX domain of FINN's base hardware nodes; specialised ones live in ``.hls`` / ``.rtl``
FPGADATAFLOW_DOMAIN = "finn.custom_op.fpgadataflow"
SPECIALISED_SUFFIXES = ("_hls", "_rtl")
#: ops of fewerbits' RTL layer library (hw/rtl_lib) whose name is not "<base op>_rtl"
RTL_LIB_BASE_OPS = {
    "MVAUBinary_rtl": "MVAU",
    "MaxPool_rtl": "Pool",
    "LabelTopK_rtl": "LabelSelect",
    "DuplicateStreams_rtl": "DuplicateStreams",
    "AddStreams_rtl": "ElementwiseAdd",
    "VVAUFabric_rtl": "VVAU",
    "GlobalSum_rtl": "GlobalAccPool",
    "AvgPoolTrunc_rtl": "Pool",
    "MulConst_rtl": "ElementwiseMul",
}


def base_op_type(op_type: str, domain: str) -> tuple[str, str]:
    """``MVAU_hls`` / ``finn.custom_op.fpgadataflow.hls`` -> ``MVAU`` /
    ``finn.custom_op.fpgadataflow``; nodes outside FINN's hardware domains pass unchanged."""
    if not domain.startswith(FPGADATAFLOW_DOMAIN):
        return op_type, domain
    if op_type in RTL_LIB_BASE_OPS:
        return RTL_LIB_BASE_OPS[op_type], FPGADATAFLOW_DOMAIN
    for suffix in SPECIALISED_SUFFIXES:
        if op_type.endswith(suffix):
            return op_type[: -len(suffix)], FPGADATAFLOW_DOMAIN
    return op_type, FPGADATAFLOW_DOMAIN
