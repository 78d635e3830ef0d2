"""``VVAUFabric_rtl``: FINN's VVAU (depthwise convolution) as this project's RTL for
7-series / UltraScale parts.

FINN's own ``VVAU_rtl`` needs the DSP58 of Versal parts (``_vvu_rtl_possible``), so on a
Zynq-7000 or UltraScale+ every depthwise conv is ``VVAU_hls`` (no Verilog without Vitis HLS).
This op covers integer inputs and weights (signed or unsigned, any width), any kernel, PE
channels and SIMD window elements per word as FINN folds its VVAU, with or without embedded
thresholds (``noActivation=0``: FINN's InferVectorVectorActivation absorbs a following
MultiThreshold when ``standalone_thresholds`` is off -- the ``auto`` style, or the rtl style's
fallback for an ``out_scale != 1`` elsewhere in the net; FINN's own ``VVAU_rtl`` refuses that on
every part). FINN's base ``VVAU`` gives the attributes, shapes, folding and the Python execution;
the core is ``hdl/vvu_fabric.sv``, its weights stream from FINN's ``memstream``, its thresholds
sit in a ROM read from ``thresholds.dat``.
"""

from __future__ import annotations

import math

import numpy as np

from .common import RtlLibOp, finn_class, finn_error, threshold_steps, write_hex

OP_TYPE = "VVAUFabric_rtl"
WEIGHT_FILE = "memblock.dat"
THRESHOLD_FILE = "thresholds.dat"
#: resType -> the core's USE_DSP (a synthesis attribute on the products)
USE_DSP = {"dsp": "yes", "lut": "no", "auto": "auto"}


def routes_here(inst, fpgapart: str | None) -> bool:
    """A base ``VVAU`` node goes to this op when the core implements its configuration: on
    non-Versal parts always, on Versal with embedded thresholds only (FINN's own ``VVAU_rtl``
    covers Versal without them); no part given: by config."""
    from finn.util.basic import is_versal  # lazy: FINN import

    versal_rtl = bool(fpgapart and is_versal(fpgapart)) and inst.get_nodeattr("noActivation") == 1
    return not versal_rtl and VVAUFabricRTL.implements(inst)


class VVAUFabricRTL(RtlLibOp):
    """The implementation of ``VVAUFabric_rtl`` (see :func:`op_class`)."""

    core = "vvu_fabric"
    core_files = ("vvu_fabric.sv", "thresholds_count.sv")
    finn_files = ("memstream/hdl/memstream.sv",)

    @staticmethod
    def implements(inst) -> bool:
        """True when a base ``VVAU`` node is a configuration this core implements."""
        dts = (inst.get_input_datatype(0), inst.get_input_datatype(1))
        return (
            inst.get_nodeattr("binaryXnorMode") == 0
            and all(dt.is_integer() and dt.name != "BIPOLAR" for dt in dts)
            and inst.get_nodeattr("mem_mode") == "internal_decoupled"
            and not inst.get_nodeattr("runtime_writeable_weights")
        )

    def check_supported(self) -> None:
        name = self.onnx_node.name
        if not self.implements(self):
            raise finn_error(
                f"{name}: {OP_TYPE} needs integer (non-bipolar) inputs and weights, "
                "mem_mode internal_decoupled and fixed weights"
            )
        k2 = int(np.prod(self.get_nodeattr("Kernel")))
        if k2 % self.get_nodeattr("SIMD") or self.get_nodeattr("Channels") % self.get_nodeattr(
            "PE"
        ):
            raise finn_error(f"{name}: SIMD must divide the kernel size and PE the channels")

    def acc_width(self) -> int:
        """Wide enough for any partial sum of K2 products (and for the output element)."""
        a, w = self.get_input_datatype(0).bitwidth(), self.get_input_datatype(1).bitwidth()
        k2 = int(np.prod(self.get_nodeattr("Kernel")))
        return max(self.get_output_datatype().bitwidth(), a + w + 2 + math.ceil(math.log2(k2)))

    def weight_words(self, weights: np.ndarray) -> np.ndarray:
        """FINN's hardware weight tensor (1, PE, WMEM, SIMD) as the core's words (WMEM,):
        lane (pe, s) at bits (pe*SIMD + s)*W_WIDTH, two's complement."""
        t = self.get_hw_compatible_weight_tensor(weights)[0].astype(np.int64)
        pe, wmem, simd = t.shape
        bits = self.get_input_datatype(1).bitwidth()
        codes = t.transpose(1, 0, 2).reshape(wmem, pe * simd) & ((1 << bits) - 1)
        return np.array(
            [sum(int(c) << (i * bits) for i, c in enumerate(row)) for row in codes], dtype=object
        )

    def threshold_width(self) -> int:
        """Thresholds clipped to [-2**(A-1), 2**(A-1)] (A: accumulator width), signed."""
        return self.acc_width() + 1

    def hw_thresholds(self, thresholds: np.ndarray) -> np.ndarray:
        """FINN's threshold memory (1, PE, TMEM, steps) as the core's ROM entries (NF, PE,
        steps): ``acc >= t`` for an integer acc of A bits is unchanged by ceil and by clipping
        t to [-2**(A-1), 2**(A-1)]."""
        t = self.get_hw_compatible_threshold_tensor(thresholds)[0]  # (PE, TMEM, steps)
        half = 2 ** (self.acc_width() - 1)
        return np.clip(np.ceil(t), -half, half).astype(np.int64).transpose(1, 0, 2)

    def n_thresholds(self, model=None) -> int:
        """Threshold steps per channel (0: no embedded activation)."""
        return threshold_steps(self, model)

    def write_params(self, model, code_gen_dir: str) -> dict[str, str]:
        """``memblock.dat``: one hex word per line, in the order the core consumes them; with
        embedded thresholds ``thresholds.dat`` (two's complement, entry order of the ROM)."""
        words = self.weight_words(model.get_initializer(self.onnx_node.input[1]))
        width = self.get_nodeattr("PE") * self.get_nodeattr("SIMD")
        wfile = f"{code_gen_dir}/{WEIGHT_FILE}"
        write_hex(wfile, words, width * self.get_input_datatype(1).bitwidth())
        self._steps = self.n_thresholds(model)
        tfile = ""
        if self._steps:
            thr = self.hw_thresholds(model.get_initializer(self.onnx_node.input[2]))
            tfile = f"{code_gen_dir}/{THRESHOLD_FILE}"
            write_hex(tfile, thr.reshape(-1), self.threshold_width())
        return {"WEIGHT_FILE": wfile, "THRESHOLD_FILE": tfile}

    def core_params(self) -> dict[str, int | str]:
        idt, wdt = self.get_input_datatype(0), self.get_input_datatype(1)
        odt = self.get_output_datatype()
        return {
            "PE": self.get_nodeattr("PE"),
            "SIMD": self.get_nodeattr("SIMD"),
            "CHANNELS": self.get_nodeattr("Channels"),
            "K2": int(np.prod(self.get_nodeattr("Kernel"))),
            "IN_WIDTH": idt.bitwidth(),
            "W_WIDTH": wdt.bitwidth(),
            "IN_SIGNED": int(idt.signed()),
            "W_SIGNED": int(wdt.signed()),
            "ACC_WIDTH": self.acc_width(),
            "OUT_WIDTH": odt.bitwidth(),
            "RAM_STYLE": self.get_nodeattr("ram_style"),
            "USE_DSP": USE_DSP[self.get_nodeattr("resType")],
            "N_THRESHOLDS": getattr(self, "_steps", self.n_thresholds()),
            "THRESHOLD_WIDTH": self.threshold_width(),
            "ACT_VAL": 0 if odt.name == "BIPOLAR" else int(self.get_nodeattr("ActVal")),
        }

    def uses_dsp(self) -> bool:
        """DSP48 for the products unless resType is ``lut`` (synthesis infers DSPs for the
        products by default; Yosys' synth_xilinx does so even for ``lut``, whose
        ``use_dsp="no"`` attribute is Vivado's)."""
        return self.get_nodeattr("resType") != "lut"

    def lut_estimation(self, fpgapart=None) -> int:
        """A structural model, not calibrated by synthesis: per PE x SIMD lane an A x W-bit
        LUT multiplier (about A*W LUTs, none with DSPs) and one adder of the accumulator
        width; the weight memory in LUTRAM when FINN's BRAM model puts it there; with
        embedded thresholds per PE and step a comparator (T/2 + 1 LUTs, T threshold bits;
        6-9 LUTs each measured by benchmarks/vvau_layer.py --thresholds at NF <= 2, where
        Yosys folds the constant ROM into it) plus, beyond 8 channel folds, a NF-deep T-bit
        ROM (T LUTs per 64 entries; not measured)."""
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        a, w = self.get_input_datatype(0).bitwidth(), self.get_input_datatype(1).bitwidth()
        lanes = pe * simd
        mult = 0 if self.uses_dsp() else lanes * a * w
        adders = lanes * self.acc_width()
        wmem = 0
        if self.bram_estimation(fpgapart) == 0:
            wmem = math.ceil(lanes * w / 2) * math.ceil(self.calc_wmem() / 64)
        tw, nf = self.threshold_width(), self.get_nodeattr("Channels") // pe
        rom = tw * math.ceil(nf / 64) if nf > 8 else 0
        thr = pe * self.n_thresholds() * (math.ceil(tw / 2) + 1 + rom)
        return int(mult + adders + wmem + thr + 16)

    def dsp_estimation(self, fpgapart=None) -> int:
        """One DSP48 per product (A, W <= 17 bits fit one DSP48E1/E2 multiplier), none with
        resType ``lut``."""
        if not self.uses_dsp():
            return 0
        return int(self.get_nodeattr("PE") * self.get_nodeattr("SIMD"))

    def get_exp_cycles(self) -> int:
        """One input word per cycle: C*K2/(PE*SIMD) words per output pixel (FINN's model)."""
        return int(self.finn_base().get_exp_cycles(self))


def op_class() -> type:
    """``VVAUFabric_rtl`` as a FINN hardware op (a subclass of ``VVAU`` and ``RTLBackend``)."""
    from finn.custom_op.fpgadataflow.vectorvectoractivation import VVAU  # lazy: FINN import

    return finn_class(OP_TYPE, VVAUFabricRTL, VVAU)
