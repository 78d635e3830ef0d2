"""``MulConst_rtl``: FINN's ``ElementwiseMul`` of an integer stream by one integer constant (a
residual branch's weight, hw/build/residual_scales.py) as this project's RTL.

FINN's base ``ElementwiseMul`` gives the attributes, shapes, folding (``PE`` lanes) and the
Python execution (int64 numpy, exact); the core is ``hdl/mul_const.sv``. FINN has this op only
as HLS (``ElementwiseMul_hls``; its RTL ``eltwise`` is for Versal), so without it an all-RTL
build of a join of two float scales could not be simulated. The constant is a core parameter
(a multiplication by a constant: shifts and adds, or a DSP, as synthesis chooses); a
per-channel constant, a float type or two streamed operands stay FINN's.
"""

from __future__ import annotations

import numpy as np

from .common import RtlLibOp, finn_class, finn_error, signed_compare

OP_TYPE = "MulConst_rtl"


def implements(inst, model=None) -> bool:
    """True for an ElementwiseMul of an integer stream by one integer constant (the constant's
    value is checked when ``model`` is given)."""
    ok = (
        inst.get_nodeattr("lhs_style") == "input"
        and inst.get_nodeattr("rhs_style") == "const"
        and int(np.prod(inst.get_nodeattr("rhs_shape"))) == 1
        and all(inst.get_input_datatype(i).is_integer() for i in (0, 1))
        and inst.get_output_datatype(0).is_integer()
        and list(inst.get_nodeattr("lhs_shape")) == list(inst.get_nodeattr("out_shape"))
    )
    if ok and model is not None:
        c = model.get_initializer(inst.onnx_node.input[1])
        ok = c is not None and np.asarray(c).size == 1 and float(np.asarray(c).item()).is_integer()
    return ok


class MulConstRTL(RtlLibOp):
    """The implementation of ``MulConst_rtl`` (see :func:`op_class`)."""

    core = "mul_const"
    core_files = ("mul_const.sv",)
    const: int | None = None  # the constant, read from the model by write_params

    def check_supported(self) -> None:
        if not implements(self):
            raise finn_error(
                f"{self.onnx_node.name}: {OP_TYPE} multiplies an integer stream by one integer "
                "constant only (no second stream, per-channel constant or float type)"
            )
        if int(self.get_nodeattr("out_shape")[-1]) % self.get_nodeattr("PE"):
            raise finn_error(f"{self.onnx_node.name}: PE must divide the channels")

    def write_params(self, model, code_gen_dir: str) -> dict[str, str]:
        c = np.asarray(model.get_initializer(self.onnx_node.input[1]))
        if not implements(self, model):
            raise finn_error(f"{self.onnx_node.name}: the constant must be one integer")
        self.const = int(c.item())
        if abs(self.const) >= 2**31:
            raise finn_error(f"{self.onnx_node.name}: constant {self.const} needs > 32 bits")
        return {}

    def core_params(self) -> dict[str, int | str]:
        if self.const is None:
            raise finn_error(f"{self.onnx_node.name}: constant not read (write_params first)")
        a = self.get_input_datatype(0)
        return {
            "PE": self.get_nodeattr("PE"),
            "A_WIDTH": a.bitwidth(),
            "A_SIGNED": signed_compare(a),
            "C": self.const,
            "O_WIDTH": self.get_output_datatype(0).bitwidth(),
        }

    def get_exp_cycles(self) -> int:
        """One output word per cycle: elements / PE."""
        return int(np.prod(self.get_nodeattr("out_shape"))) // self.get_nodeattr("PE")

    def lut_estimation(self, fpgapart=None) -> int:
        """The handshake and the output valid: the product itself goes to DSPs (as Yosys
        ``synth_xilinx`` maps it: 2 LUT, 1 FF, 2 DSP48E1 for PE 2, INT8 * 36 -> INT14)."""
        return 3

    def dsp_estimation(self, fpgapart=None) -> int:
        """One DSP (25 x 18 multiplier) per lane, more for wider operands."""
        a = self.get_input_datatype(0).bitwidth()
        c = self.get_input_datatype(1).bitwidth()
        return int(self.get_nodeattr("PE") * -(-a // 25) * -(-c // 18))

    def bram_estimation(self, fpgapart=None) -> int:
        return 0


def op_class() -> type:
    """``MulConst_rtl`` as a FINN hardware op (``ElementwiseMul`` + ``RTLBackend``)."""
    from finn.custom_op.fpgadataflow.elementwise_binary import ElementwiseMul  # lazy: FINN

    return finn_class(OP_TYPE, MulConstRTL, ElementwiseMul)
