"""``MVAUBinary_rtl``: FINN's MVAU in binary XNOR-popcount mode as this project's RTL.

FINN's base ``MVAU`` gives the attributes, shapes, folding, the weight file (``memblock.dat``,
FINN's own layout) and the Python execution; the core is ``hdl/mvu_binary.sv``, its weights
stream from ``hdl/weight_stream.sv`` (a ROM); embedded thresholds (``noActivation=0``) sit in a ROM read
from ``thresholds.dat``. FINN has no RTL for this mode (``_mvu_rtl_possible`` refuses
``binaryXnorMode``); :mod:`fewerbits.hw.build.impl_style` routes binary MVAUs here.
"""

from __future__ import annotations

import math

import numpy as np

from .common import WeightStreamOp, finn_class, finn_error, threshold_steps, write_hex

OP_TYPE = "MVAUBinary_rtl"
THRESHOLD_FILE = "thresholds.dat"
WEIGHT_FILE = "memblock.dat"


class MVAUBinaryRTL(WeightStreamOp):
    """The implementation of ``MVAUBinary_rtl`` (see :func:`op_class`)."""

    core = "mvu_binary"
    core_files = ("mvu_binary.sv", "thresholds_count.sv", "weight_stream.sv")

    def check_supported(self) -> None:
        name = self.onnx_node.name
        if self.get_nodeattr("binaryXnorMode") != 1:
            raise finn_error(f"{name}: {OP_TYPE} needs binaryXnorMode=1")
        for ind in (0, 1):
            if self.get_input_datatype(ind).bitwidth() != 1:
                raise finn_error(f"{name}: {OP_TYPE} needs 1-bit inputs and weights")
        if self.get_nodeattr("mem_mode") != "internal_decoupled":
            raise finn_error(
                f"{name}: {OP_TYPE} streams weights from its own ROM; "
                f"mem_mode {self.get_nodeattr('mem_mode')!r} is not supported"
            )
        if self.get_nodeattr("TH") != 1 or self.get_nodeattr("runtime_writeable_weights"):
            raise finn_error(f"{name}: {OP_TYPE} supports TH=1 and fixed weights only")
        self.calc_wmem()  # MW % SIMD, MH % PE

    def accu_width(self) -> int:
        return max(1, math.ceil(math.log2(self.get_nodeattr("MW") + 1)))

    def threshold_width(self) -> int:
        return max(1, math.ceil(math.log2(self.get_nodeattr("MW") + 2)))

    def hw_thresholds(self, thresholds: np.ndarray) -> np.ndarray:
        """Thresholds as the core compares them, (NF, PE, steps): ``acc >= t`` for integer acc
        in [0, MW] is unchanged by ceil and by clipping t to [0, MW+1]."""
        t = self.get_hw_compatible_threshold_tensor(thresholds)[0]  # (PE, TMEM, steps)
        t = np.clip(np.ceil(t), 0, self.get_nodeattr("MW") + 1).astype(np.int64)
        return t.transpose(1, 0, 2)

    def n_thresholds(self, model=None) -> int:
        """Threshold steps per channel (0: no embedded activation)."""
        return threshold_steps(self, model)

    def write_params(self, model, code_gen_dir: str) -> dict[str, str]:
        """``memblock.dat`` (FINN's weight file) and, with activation, ``thresholds.dat``."""
        self._steps = self.n_thresholds(model)
        weights = model.get_initializer(self.onnx_node.input[1])
        wfile = f"{code_gen_dir}/{WEIGHT_FILE}"
        self.make_weight_file(weights, "decoupled_verilog_dat", wfile)
        tfile = ""
        if self._steps:
            thr = self.hw_thresholds(model.get_initializer(self.onnx_node.input[2]))
            tfile = f"{code_gen_dir}/{THRESHOLD_FILE}"
            write_hex(tfile, thr.reshape(-1), self.threshold_width())
        return {"WEIGHT_FILE": wfile, "THRESHOLD_FILE": tfile}

    def core_params(self) -> dict[str, int | str]:
        odt = self.get_output_datatype()
        return {
            "MW": self.get_nodeattr("MW"),
            "MH": self.get_nodeattr("MH"),
            "PE": self.get_nodeattr("PE"),
            "SIMD": self.get_nodeattr("SIMD"),
            "ACCU_WIDTH": self.accu_width(),
            "N_THRESHOLDS": getattr(self, "_steps", self.n_thresholds()),
            "THRESHOLD_WIDTH": self.threshold_width(),
            "OUT_WIDTH": odt.bitwidth(),
            "ACT_VAL": 0 if odt.name == "BIPOLAR" else int(self.get_nodeattr("ActVal")),
            "RAM_STYLE": self.weight_memory_style(),
        }

    def lut_estimation(self, fpgapart=None) -> int:
        """A structural model of hdl/mvu_binary.sv (``--cost-model synth`` calibrates by
        Yosys instead): per PE x SIMD lane 4/3 LUT (the XNORs in full adders of three lanes,
        6:3 counters, an adder tree); per PE the accumulator and, with several thresholds, a
        comparator (acc/2 LUTs) per threshold (one threshold: the accumulator's sign); the
        input replay buffer as LUTRAM (64 bits per LUT); weights in LUTs (not block RAM):
        about (depth - 8)/16 LUT per lane (Yosys merges a shallow ROM into the XNOR level)."""
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        sf, nf = self.get_nodeattr("MW") // simd, self.get_nodeattr("MH") // pe
        acc = self.accu_width()
        steps = self.n_thresholds()
        per_pe = acc + 1 + (steps * math.ceil(acc / 2) if steps > 1 else 0)
        replay = simd * math.ceil(sf / 64) if nf > 1 else 0
        rom = 0
        if self.weight_memory_style() != "block":
            rom = pe * simd * max(0, self.calc_wmem() - 8) / 16
        return int(math.ceil(4 * pe * simd / 3) + pe * per_pe + replay + rom)


def op_class() -> type:
    """``MVAUBinary_rtl`` as a FINN hardware op (a subclass of ``MVAU`` and ``RTLBackend``)."""
    from finn.custom_op.fpgadataflow.matrixvectoractivation import MVAU  # lazy: FINN import

    return finn_class(OP_TYPE, MVAUBinaryRTL, MVAU)
