"""``MaxPool_rtl``: FINN's ``Pool`` with ``Function=MaxPool`` as this project's RTL.

FINN's base ``Pool`` gives the attributes, shapes, folding (PE channels per word) and the
Python execution; the core is ``hdl/pool_max.sv``. It consumes the stream of FINN's depthwise
``ConvolutionInputGenerator`` (SIMD == PE), as FINN's ``Pool_hls`` does.
"""

from __future__ import annotations

import numpy as np

from .common import RtlLibOp, finn_class, finn_error, signed_compare

OP_TYPE = "MaxPool_rtl"


class MaxPoolRTL(RtlLibOp):
    """The implementation of ``MaxPool_rtl`` (see :func:`op_class`)."""

    core = "pool_max"
    core_files = ("pool_max.sv",)

    def check_supported(self) -> None:
        name = self.onnx_node.name
        if self.get_nodeattr("Function") != "MaxPool":
            raise finn_error(f"{name}: {OP_TYPE} implements Function=MaxPool only")
        if self.get_nodeattr("Channels") % self.get_nodeattr("PE"):
            raise finn_error(f"{name}: PE must divide Channels")

    def core_params(self) -> dict[str, int | str]:
        idt = self.get_input_datatype()
        return {
            "PE": self.get_nodeattr("PE"),
            "WIDTH": idt.bitwidth(),
            "K2": int(np.prod(self.get_nodeattr("KernelSize"))),
            "SIGNED": signed_compare(idt),
        }

    def lut_estimation(self, fpgapart=None) -> int:
        """A structural model, not calibrated by synthesis: per channel lane one comparator
        and one 2:1 mux per bit (about 1.5 LUT per bit)."""
        bits = self.get_nodeattr("PE") * self.get_input_datatype().bitwidth()
        return int(np.ceil(1.5 * bits)) + 4

    def bram_estimation(self, fpgapart=None) -> int:
        return 0


def op_class() -> type:
    """``MaxPool_rtl`` as a FINN hardware op (a subclass of ``Pool`` and ``RTLBackend``)."""
    from finn.custom_op.fpgadataflow.pool import Pool  # lazy: FINN import

    return finn_class(OP_TYPE, MaxPoolRTL, Pool)
