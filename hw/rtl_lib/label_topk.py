"""``LabelTopK_rtl``: FINN's ``LabelSelect`` (top-K label indices) as this project's RTL.

FINN's base ``LabelSelect`` gives the attributes, shapes, folding (PE values per word) and the
Python execution (ONNX TopK: largest first, ties to the lower index); the core is
``hdl/label_topk.sv``.
"""

from __future__ import annotations

import math

import numpy as np

from .common import RtlLibOp, finn_class, finn_error, signed_compare

OP_TYPE = "LabelTopK_rtl"


class LabelTopKRTL(RtlLibOp):
    """The implementation of ``LabelTopK_rtl`` (see :func:`op_class`)."""

    core = "label_topk"
    core_files = ("label_topk.sv",)

    def check_supported(self) -> None:
        name = self.onnx_node.name
        labels, pe, k = (self.get_nodeattr(a) for a in ("Labels", "PE", "K"))
        if labels % pe or not 1 <= k <= labels:
            raise finn_error(f"{name}: {OP_TYPE} needs PE | Labels and 1 <= K <= Labels")

    def core_params(self) -> dict[str, int | str]:
        idt = self.get_input_datatype()
        return {
            "LABELS": self.get_nodeattr("Labels"),
            "PE": self.get_nodeattr("PE"),
            "K": self.get_nodeattr("K"),
            "WIDTH": idt.bitwidth(),
            "SIGNED": signed_compare(idt),
            "OUT_WIDTH": self.get_output_datatype().bitwidth(),
        }

    def get_exp_cycles(self) -> int:
        """Per input vector max(Labels/PE input words, K output words): the K indices of one
        vector stream out while the next is read. (FINN's LabelSelect model is Labels/PE,
        for one vector.)"""
        vecs = int(np.prod(self.get_nodeattr("numInputVectors")))
        folds = self.get_nodeattr("Labels") // self.get_nodeattr("PE")
        return int(max(folds, self.get_nodeattr("K")) * vecs)

    def lut_estimation(self, fpgapart=None) -> int:
        """A structural model, not calibrated by synthesis: per PE lane and list entry one
        comparator and a (value, index) 2:1 mux."""
        pe, k = self.get_nodeattr("PE"), self.get_nodeattr("K")
        bits = self.get_input_datatype().bitwidth()
        ibits = max(1, math.ceil(math.log2(self.get_nodeattr("Labels"))))
        return int(pe * k * (math.ceil(bits / 2) + bits + ibits))

    def bram_estimation(self, fpgapart=None) -> int:
        return 0


def op_class() -> type:
    """``LabelTopK_rtl`` as a FINN hardware op (``LabelSelect`` + ``RTLBackend``)."""
    from finn.custom_op.fpgadataflow.labelselect import LabelSelect  # lazy: FINN import

    return finn_class(OP_TYPE, LabelTopKRTL, LabelSelect)
