"""``GlobalSum_rtl``: FINN's ``GlobalAccPool`` (integer sum over all pixels per channel) as this
project's RTL.

FINN's base ``GlobalAccPool`` gives the attributes, shapes, folding (PE channels per word), the
output datatype and the Python execution; the core is ``hdl/pool_acc_global.sv``. FINN has
only ``GlobalAccPool_hls``.
"""

from __future__ import annotations

import numpy as np

from .common import RtlLibOp, finn_class, finn_error

OP_TYPE = "GlobalSum_rtl"


class GlobalSumRTL(RtlLibOp):
    """The implementation of ``GlobalSum_rtl`` (see :func:`op_class`)."""

    core = "pool_acc_global"
    core_files = ("pool_acc_global.sv",)

    def _folds_pixels(self) -> tuple[int, int]:
        vecs = list(self.get_nodeattr("numInputVectors"))
        folds = self.get_nodeattr("NumChannels") // self.get_nodeattr("PE")
        return folds, int(np.prod(vecs[1:]))

    def check_supported(self) -> None:
        name = self.onnx_node.name
        if len(self.get_nodeattr("numInputVectors")) != 3:
            raise finn_error(f"{name}: {OP_TYPE} needs numInputVectors [N, H, W]")
        if self.get_nodeattr("NumChannels") % self.get_nodeattr("PE"):
            raise finn_error(f"{name}: PE must divide NumChannels")
        if not supports(self.get_input_datatype()):
            raise finn_error(f"{name}: {OP_TYPE} needs an integer input (BIPOLAR codes -1 as 0)")

    def core_params(self) -> dict[str, int | str]:
        idt = self.get_input_datatype()
        folds, pixels = self._folds_pixels()
        return {
            "PE": self.get_nodeattr("PE"),
            "IWIDTH": idt.bitwidth(),
            "OWIDTH": self.get_output_datatype().bitwidth(),
            "FOLDS": folds,
            "PIXELS": pixels,
            "SIGNED": int(idt.signed()),
        }

    def get_exp_cycles(self) -> int:
        """One input word per cycle; the FOLDS sums leave while the last pixel streams in.
        (FINN's GlobalAccPool model adds FOLDS cycles for the output.)"""
        folds, pixels = self._folds_pixels()
        return int(self.get_nodeattr("numInputVectors")[0] * folds * pixels)

    def lut_estimation(self, fpgapart=None) -> int:
        """A structural model, not calibrated by synthesis: per PE lane one OWIDTH-bit adder
        (1 LUT per bit), the partial sums in LUTRAM (FOLDS x PE*OWIDTH bits, 64 bits per LUT),
        the output register's input mux."""
        folds, _ = self._folds_pixels()
        bits = self.get_nodeattr("PE") * self.get_output_datatype().bitwidth()
        return int(bits + np.ceil(folds * bits / 64) + 8)

    def bram_estimation(self, fpgapart=None) -> int:
        return 0


def supports(idt) -> bool:
    """Input datatypes the core sums as FINN's Python does (BIPOLAR's 0/1 codes would not)."""
    return idt.is_integer() and idt.name != "BIPOLAR"


def op_class() -> type:
    """``GlobalSum_rtl`` as a FINN hardware op (``GlobalAccPool`` + ``RTLBackend``)."""
    from finn.custom_op.fpgadataflow.globalaccpool import GlobalAccPool  # lazy: FINN import

    return finn_class(OP_TYPE, GlobalSumRTL, GlobalAccPool)
