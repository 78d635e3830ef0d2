"""``AvgPoolTrunc_rtl``: FINN's ``Pool`` with ``Function=QuantAvgPool`` (Brevitas'
``TruncAvgPool2d`` with FLOOR: window sum, truncating right shift) as this project's RTL.

FINN's base ``Pool`` gives the attributes, shapes, folding and the Python execution; the core
is ``hdl/pool_avg.sv``. It consumes the stream of FINN's depthwise ``ConvolutionInputGenerator``
(SIMD == PE), as FINN's ``Pool_hls`` does.
"""

from __future__ import annotations

import numpy as np

from .common import RtlLibOp, finn_class, finn_error

OP_TYPE = "AvgPoolTrunc_rtl"


class AvgPoolTruncRTL(RtlLibOp):
    """The implementation of ``AvgPoolTrunc_rtl`` (see :func:`op_class`)."""

    core = "pool_avg"
    core_files = ("pool_avg.sv",)

    def check_supported(self) -> None:
        name = self.onnx_node.name
        if self.get_nodeattr("Function") != "QuantAvgPool":
            raise finn_error(f"{name}: {OP_TYPE} implements Function=QuantAvgPool only")
        if self.get_nodeattr("Channels") % self.get_nodeattr("PE"):
            raise finn_error(f"{name}: PE must divide Channels")
        if not supports(self.get_input_datatype()):
            raise finn_error(f"{name}: {OP_TYPE} needs an integer input (not BIPOLAR)")

    def shift(self) -> int:
        """The right shift of FINN's QuantAvgPool (finn-plus 1.6.1 ``Pool.execute_node``): the
        bit length of ``(2**ibits - 1) * K2`` minus the output bits, at least 0."""
        k2 = int(np.prod(self.get_nodeattr("KernelSize")))
        ibits = self.get_input_datatype().bitwidth()
        obits = self.get_output_datatype().bitwidth()
        return max(int((2**ibits - 1) * k2).bit_length() - obits, 0)

    def core_params(self) -> dict[str, int | str]:
        idt = self.get_input_datatype()
        return {
            "PE": self.get_nodeattr("PE"),
            "WIDTH": idt.bitwidth(),
            "OWIDTH": self.get_output_datatype().bitwidth(),
            "K2": int(np.prod(self.get_nodeattr("KernelSize"))),
            "SHIFT": self.shift(),
            "SIGNED": int(idt.signed()),
        }

    def lut_estimation(self, fpgapart=None) -> int:
        """A structural model, not calibrated by synthesis: per channel lane one accumulator
        adder and register (1 LUT per bit)."""
        k_bits = max(1, int(np.ceil(np.log2(int(np.prod(self.get_nodeattr("KernelSize")))))))
        bits = self.get_nodeattr("PE") * (self.get_input_datatype().bitwidth() + k_bits + 1)
        return int(bits) + 4

    def bram_estimation(self, fpgapart=None) -> int:
        return 0


def supports(idt) -> bool:
    """Input datatypes the core sums as FINN's Python does."""
    return idt.is_integer() and idt.name != "BIPOLAR"


def op_class() -> type:
    """``AvgPoolTrunc_rtl`` as a FINN hardware op (a subclass of ``Pool`` and ``RTLBackend``)."""
    from finn.custom_op.fpgadataflow.pool import Pool  # lazy: FINN import

    return finn_class(OP_TYPE, AvgPoolTruncRTL, Pool)
