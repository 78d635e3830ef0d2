"""``AvgPoolTrunc_rtl``: FINN's ``Pool`` with ``Function=QuantAvgPool`` (Brevitas'
``TruncAvgPool2d`` with FLOOR: window sum, truncating right shift) as this project's RTL.

FINN's base ``Pool`` gives the attributes, shapes, folding and the Python execution; the core
is ``hdl/pool_window.sv`` (``FUNCTION="QuantAvgPool"``). It consumes the stream of FINN's
depthwise ``ConvolutionInputGenerator`` (SIMD == PE), as FINN's ``Pool_hls`` does.
"""

from __future__ import annotations

import numpy as np

from .common import finn_error
from .pool_window import PoolWindowRTL, pool_class

OP_TYPE = "AvgPoolTrunc_rtl"


class AvgPoolTruncRTL(PoolWindowRTL):
    """The implementation of ``AvgPoolTrunc_rtl`` (see :func:`op_class`)."""

    op_type = OP_TYPE
    function = "QuantAvgPool"

    def check_supported(self) -> None:
        super().check_supported()
        if not supports(self.get_input_datatype()):
            raise finn_error(
                f"{self.onnx_node.name}: {OP_TYPE} needs an integer input (not BIPOLAR)"
            )

    def shift(self) -> int:
        """The right shift of FINN's QuantAvgPool (finn-plus 1.6.1 ``Pool.execute_node``): the
        bit length of ``(2**ibits - 1) * K2`` minus the output bits, at least 0."""
        ibits = self.get_input_datatype().bitwidth()
        obits = self.get_output_datatype().bitwidth()
        return max(int((2**ibits - 1) * self.k2()).bit_length() - obits, 0)

    def reduction_params(self) -> dict[str, int]:
        return {"SHIFT": self.shift(), "SIGNED": int(self.get_input_datatype().signed())}

    def lut_estimation(self, fpgapart=None) -> int:
        """A structural model, not calibrated by synthesis: per channel lane one accumulator
        adder and register (1 LUT per bit)."""
        k_bits = max(1, int(np.ceil(np.log2(self.k2()))))
        bits = self.get_nodeattr("PE") * (self.get_input_datatype().bitwidth() + k_bits + 1)
        return int(bits) + 4


def supports(idt) -> bool:
    """Input datatypes the core sums as FINN's Python does."""
    return idt.is_integer() and idt.name != "BIPOLAR"


def op_class() -> type:
    """``AvgPoolTrunc_rtl`` as a FINN hardware op (a subclass of ``Pool`` and ``RTLBackend``)."""
    return pool_class(OP_TYPE, AvgPoolTruncRTL)
