"""Refuse, before any FINN step runs, graph nodes this flow cannot build or cannot build
honestly, naming the node as the user's file names it (FINN's tidy-up renames every node).

Measured with finn-plus 1.6.1 on a TFC graph with one node appended:

* Sigmoid, Tanh: converted to FINN's PWPolyF, whose only implementation uses the Versal
  DSPFP32 primitive (step_specialize_layers fails on any other part);
* Softmax, LayerNormalization: built as float HLS layers (HWSoftmax_hls, LayerNorm_hls) that
  report 0 LUT / 0 DSP / 0 cycles, which would go into the report as if true, and that no
  simulator here can check; LayerNormalization without an explicit ``axis`` fails inside
  convert_to_hw ("Node has no attribute with name axis");
* Erf, ArgMax, Abs: no FINN layer; they end up outside the accelerator, where the driver
  cannot run them either (found only after the whole build).
"""

from __future__ import annotations

from pathlib import Path

from .steps import BuildError

#: op type -> what to do instead (no FINN layer, and the host driver cannot run it either)
_NO_FPGA_LAYER = {
    "Erf": "GELU's Erf; use a quantized activation (brevitas QuantReLU, QuantHardTanh)",
    "ArgMax": "remove it and take the argmax of the accelerator's logits on the host",
    "Abs": "remove it",
}
_FLOAT_HLS_ONLY = {
    "Softmax": ("HWSoftmax_hls", "drop it: the argmax of the logits is unchanged"),
    "LayerNormalization": ("LayerNorm_hls", "use BatchNorm, or drop it"),
}
_VERSAL_ONLY = ("Sigmoid", "Tanh")

QUANTIZED_HINT = "use a quantized activation (brevitas QuantReLU, QuantHardTanh)"


def is_versal(part: str) -> bool:
    """Versal parts are named xcv<series>... (xcvc1902, xcvm1802, xcve2302)."""
    return part.lower().startswith("xcv")


def check_graph_ops(graph, model_onnx: Path, part: str) -> None:
    """Refuse the first node of ``graph`` (an ONNX GraphProto) that cannot be built for
    ``part``, in one line naming the node and what to do."""
    for i, node in enumerate(graph.node):
        op = node.op_type
        who = f"node {node.name} ({op})" if node.name else f"node #{i} ({op})"
        where = f"model {model_onnx}: {who}"
        if op in _NO_FPGA_LAYER:
            raise BuildError(
                f"{where}: no FINN hardware layer, and the host driver cannot run it; "
                f"{_NO_FPGA_LAYER[op]}"
            )
        if op in _FLOAT_HLS_ONLY:
            layer, todo = _FLOAT_HLS_ONLY[op]
            raise BuildError(
                f"{where}: FINN builds it as the float layer {layer}, which has no resource "
                f"estimate (it would report 0 LUT / 0 DSP) and cannot be verified here; {todo}"
            )
        if op in _VERSAL_ONLY and not is_versal(part):
            raise BuildError(
                f"{where}: a float activation FINN maps only on Versal parts (PWPolyF), not "
                f"{part}; {QUANTIZED_HINT}"
            )
