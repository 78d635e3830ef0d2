"""``AddStreams_rtl``: FINN's ``ElementwiseAdd`` with both operands streamed (the join of a
residual block) as this project's RTL.

FINN's base ``ElementwiseAdd`` gives the attributes, shapes, folding (``PE`` lanes) and the
Python execution; the core is ``hdl/add_streams.sv``. Integer operands of any widths and
signedness, the output at FINN's inferred sum type. FINN's own ``ElementwiseAdd_rtl``
(finn-rtllib ``eltwise``) needs equal operand widths and types and a one-bit-wider output, so
after ``step_minimize_bit_width`` FINN falls back to ``ElementwiseAdd_hls`` (no Verilog here).
Constant operands, broadcasting and float types stay FINN's.
"""

from __future__ import annotations

import numpy as np

from .common import RtlLibOp, finn_class, finn_error, signed_compare

OP_TYPE = "AddStreams_rtl"


def implements(inst) -> bool:
    """True for an ElementwiseAdd of two same-shaped integer streams (no broadcast)."""
    return (
        inst.get_nodeattr("lhs_style") == "input"
        and inst.get_nodeattr("rhs_style") == "input"
        and all(inst.get_input_datatype(i).is_integer() for i in (0, 1))
        and inst.get_output_datatype(0).is_integer()
        and list(inst.get_nodeattr("lhs_shape")) == list(inst.get_nodeattr("rhs_shape"))
        and list(inst.get_nodeattr("lhs_shape")) == list(inst.get_nodeattr("out_shape"))
    )


class AddStreamsRTL(RtlLibOp):
    """The implementation of ``AddStreams_rtl`` (see :func:`op_class`)."""

    core = "add_streams"
    core_files = ("add_streams.sv",)

    def check_supported(self) -> None:
        name = self.onnx_node.name
        if not implements(self):
            raise finn_error(
                f"{name}: {OP_TYPE} adds two same-shaped integer streams only "
                "(no constant operand, broadcast or float type)"
            )
        if int(self.get_nodeattr("out_shape")[-1]) % self.get_nodeattr("PE"):
            raise finn_error(f"{name}: PE must divide the channels")

    def core_params(self) -> dict[str, int | str]:
        a, b = self.get_input_datatype(0), self.get_input_datatype(1)
        return {
            "PE": self.get_nodeattr("PE"),
            "A_WIDTH": a.bitwidth(),
            "A_SIGNED": signed_compare(a),
            "B_WIDTH": b.bitwidth(),
            "B_SIGNED": signed_compare(b),
            "O_WIDTH": self.get_output_datatype(0).bitwidth(),
        }

    def core_streams(self) -> list[tuple[str, str, list[str], int, int]]:
        return [
            ("a", "in", ["in0_V"], self.get_instream_width(0), self.get_instream_width_padded(0)),
            ("b", "in", ["in1_V"], self.get_instream_width(1), self.get_instream_width_padded(1)),
            (
                "m",
                "out",
                ["out0_V"],
                self.get_outstream_width(0),
                self.get_outstream_width_padded(0),
            ),
        ]

    def get_exp_cycles(self) -> int:
        """One output word per cycle: elements / PE."""
        return int(np.prod(self.get_nodeattr("out_shape"))) // self.get_nodeattr("PE")

    def lut_estimation(self, fpgapart=None) -> int:
        """A structural model, not calibrated by synthesis: one LUT per output bit of the
        adders (carry chain) and the output register's enable, plus the handshake."""
        return int(self.get_nodeattr("PE") * self.get_output_datatype(0).bitwidth() + 3)

    def bram_estimation(self, fpgapart=None) -> int:
        return 0


def op_class() -> type:
    """``AddStreams_rtl`` as a FINN hardware op (``ElementwiseAdd`` + ``RTLBackend``)."""
    from finn.custom_op.fpgadataflow.elementwise_binary import ElementwiseAdd  # lazy: FINN

    return finn_class(OP_TYPE, AddStreamsRTL, ElementwiseAdd)
