"""``MaxPool_rtl``: FINN's ``Pool`` with ``Function=MaxPool`` as this project's RTL.

FINN's base ``Pool`` gives the attributes, shapes, folding (PE channels per word) and the
Python execution; the core is ``hdl/pool_window.sv`` (``FUNCTION="MaxPool"``). It consumes the
stream of FINN's depthwise ``ConvolutionInputGenerator`` (SIMD == PE), as FINN's ``Pool_hls``
does. finn-plus 1.6.1 has no ``StreamingMaxPool`` op: its ``InferPool`` turns every MaxPool
(2-D or 1-D, kernel >= stride, incl. kernel == stride) into Im2Col + this ``Pool``.
"""

from __future__ import annotations

import numpy as np

from .common import signed_compare
from .pool_window import PoolWindowRTL, pool_class

OP_TYPE = "MaxPool_rtl"


class MaxPoolRTL(PoolWindowRTL):
    """The implementation of ``MaxPool_rtl`` (see :func:`op_class`)."""

    op_type = OP_TYPE
    function = "MaxPool"

    def reduction_params(self) -> dict[str, int]:
        return {"SIGNED": signed_compare(self.get_input_datatype())}

    def lut_estimation(self, fpgapart=None) -> int:
        """A structural model, not calibrated by synthesis: per channel lane one comparator
        and one 2:1 mux per bit (about 1.5 LUT per bit)."""
        bits = self.get_nodeattr("PE") * self.get_input_datatype().bitwidth()
        return int(np.ceil(1.5 * bits)) + 4


def op_class() -> type:
    """``MaxPool_rtl`` as a FINN hardware op (a subclass of ``Pool`` and ``RTLBackend``)."""
    return pool_class(OP_TYPE, MaxPoolRTL)
