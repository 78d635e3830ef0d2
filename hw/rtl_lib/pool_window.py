"""What ``MaxPool_rtl`` and ``AvgPoolTrunc_rtl`` share: FINN's ``Pool`` over the window stream
of FINN's depthwise ``ConvolutionInputGenerator`` (SIMD == PE, as FINN's ``Pool_hls``), one
core ``hdl/pool_window.sv`` whose reduction is its ``FUNCTION`` parameter (FINN's ``Function``
attribute)."""

from __future__ import annotations

import numpy as np

from .common import RtlLibOp, finn_class, finn_error


class PoolWindowRTL(RtlLibOp):
    """A ``Pool`` op on ``hdl/pool_window.sv``; a subclass sets ``op_type`` and ``function``
    and adds its parameters in :meth:`reduction_params`."""

    core = "pool_window"
    core_files = ("pool_window.sv",)
    op_type = ""
    function = ""

    def check_supported(self) -> None:
        name = self.onnx_node.name
        if self.get_nodeattr("Function") != self.function:
            raise finn_error(f"{name}: {self.op_type} implements Function={self.function} only")
        if self.get_nodeattr("Channels") % self.get_nodeattr("PE"):
            raise finn_error(f"{name}: PE must divide Channels")

    def k2(self) -> int:
        """Window elements (KH*KW)."""
        return int(np.prod(self.get_nodeattr("KernelSize")))

    def reduction_params(self) -> dict[str, int]:
        """The core parameters of this reduction (besides FUNCTION, PE, WIDTH, K2)."""
        raise NotImplementedError

    def core_params(self) -> dict[str, int | str]:
        return {
            "FUNCTION": self.function,
            "PE": self.get_nodeattr("PE"),
            "WIDTH": self.get_input_datatype().bitwidth(),
            "OWIDTH": self.get_output_datatype().bitwidth(),
            "K2": self.k2(),
            **self.reduction_params(),
        }

    def bram_estimation(self, fpgapart=None) -> int:
        return 0


def pool_class(op_type: str, impl: type) -> type:
    """``op_type`` as a FINN hardware op (a subclass of ``Pool`` and ``RTLBackend``)."""
    from finn.custom_op.fpgadataflow.pool import Pool  # lazy: FINN import

    return finn_class(op_type, impl, Pool)
