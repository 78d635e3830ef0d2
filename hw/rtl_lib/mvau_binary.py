"""``MVAUBinary_rtl``: FINN's MVAU in binary XNOR-popcount mode as this project's RTL.

A subclass of FINN's base ``MVAU`` (attributes, shapes, folding, weight file layout, Python
execution) and ``RTLBackend`` (code generation into ``code_gen_dir_ipgen``). The core is
``hdl/mvu_binary.sv``; its weights stream from FINN's ``memstream`` reading FINN's own
``memblock.dat``; embedded thresholds (``noActivation=0``) sit in a ROM read from
``thresholds.dat``. FINN has no RTL for this mode (``_mvu_rtl_possible`` refuses
``binaryXnorMode``); :mod:`fewerbits.hw.build.impl_style` routes binary MVAUs here.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

HDL_DIR = Path(__file__).parent / "hdl"
CORE_FILES = ("mvu_binary.sv",)
THRESHOLD_FILE = "thresholds.dat"
WEIGHT_FILE = "memblock.dat"

OP_TYPE = "MVAUBinary_rtl"
BASE_OP_TYPE = "MVAU"


def _finn_error(msg: str) -> Exception:
    from finn.util.exception import FINNUserError  # lazy: FINN import

    return FINNUserError(msg)


class MVAUBinaryRTL:
    """The implementation of ``MVAUBinary_rtl``; :func:`finn_class` composes it with FINN's
    ``MVAU`` and ``RTLBackend`` (FINN is imported only then, after ``prepare_finn``)."""

    def get_nodeattr_types(self) -> dict:
        from finn.custom_op.fpgadataflow.matrixvectoractivation import MVAU
        from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend

        attrs = MVAU.get_nodeattr_types(self)
        attrs.update(RTLBackend.get_nodeattr_types(self))
        return attrs

    def execute_node(self, context, graph) -> None:
        """Python execution (FINN's MVAU); RTL simulation is fewerbits' Verilator flow."""
        from finn.custom_op.fpgadataflow.matrixvectoractivation import MVAU

        if self.get_nodeattr("exec_mode") == "rtlsim":
            raise _finn_error(
                f"{self.onnx_node.name}: exec_mode rtlsim needs Vivado xsim; simulate this "
                "layer with fewerbits' Verilator flow (hw/rtlsim)"
            )
        MVAU.execute_node(self, context, graph)

    # --- checks -------------------------------------------------------------------------
    def check_supported(self) -> None:
        """Refuse configurations the core does not implement (one line each)."""
        name = self.onnx_node.name
        if self.get_nodeattr("binaryXnorMode") != 1:
            raise _finn_error(f"{name}: MVAUBinary_rtl needs binaryXnorMode=1")
        for ind in (0, 1):
            if self.get_input_datatype(ind).bitwidth() != 1:
                raise _finn_error(f"{name}: MVAUBinary_rtl needs 1-bit inputs and weights")
        if self.get_nodeattr("mem_mode") != "internal_decoupled":
            raise _finn_error(
                f"{name}: MVAUBinary_rtl streams weights from its own memstream; "
                f"mem_mode {self.get_nodeattr('mem_mode')!r} is not supported"
            )
        if self.get_nodeattr("TH") != 1 or self.get_nodeattr("runtime_writeable_weights"):
            raise _finn_error(f"{name}: MVAUBinary_rtl supports TH=1, fixed weights only")
        self.calc_wmem()  # MW % SIMD, MH % PE

    def accu_width(self) -> int:
        return max(1, math.ceil(math.log2(self.get_nodeattr("MW") + 1)))

    def threshold_width(self) -> int:
        return max(1, math.ceil(math.log2(self.get_nodeattr("MW") + 2)))

    # --- code generation ----------------------------------------------------------------
    def hw_thresholds(self, thresholds: np.ndarray) -> np.ndarray:
        """Thresholds as the core compares them: (NF, PE, steps), ``acc >= t`` kept exact for
        integer acc in [0, MW] by ceil and clipping to [0, MW+1]."""
        t = self.get_hw_compatible_threshold_tensor(thresholds)[0]  # (PE, TMEM, steps)
        t = np.clip(np.ceil(t), 0, self.get_nodeattr("MW") + 1).astype(np.int64)
        return t.transpose(1, 0, 2)

    def generate_params(self, model, path) -> None:
        """``memblock.dat`` (FINN's weight file) and, with activation, ``thresholds.dat``."""
        weights = model.get_initializer(self.onnx_node.input[1])
        self.make_weight_file(weights, "decoupled_verilog_dat", f"{path}/{WEIGHT_FILE}")
        self._threshold_steps = 0
        if self.get_nodeattr("noActivation") == 0:
            thr = self.hw_thresholds(model.get_initializer(self.onnx_node.input[2]))
            self._threshold_steps = thr.shape[-1]
            digits = (self.threshold_width() + 3) // 4
            lines = [f"{int(v):0{digits}x}" for v in thr.reshape(-1)]
            Path(path, THRESHOLD_FILE).write_text("\n".join(lines) + "\n")

    def wrapper_text(self, code_gen_dir: str, n_thresholds: int) -> str:
        """The generated top: FINN's AXI-stream port names around ``mvu_binary``."""
        top = self.get_verilog_top_module_name()
        simd, pe = self.get_nodeattr("SIMD"), self.get_nodeattr("PE")
        obits = self.get_output_datatype().bitwidth()
        iw, ow = self.get_instream_width_padded(0), self.get_outstream_width_padded(0)
        odt = self.get_output_datatype()
        act_val = 0 if odt.name == "BIPOLAR" else int(self.get_nodeattr("ActVal"))
        thr_file = f"{code_gen_dir}/{THRESHOLD_FILE}" if n_thresholds else ""
        return f"""// generated by fewerbits (hw/rtl_lib/mvau_binary.py) for {self.onnx_node.name}
module {top} (
  (* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF in0_V:out0_V, ASSOCIATED_RESET ap_rst_n" *)
  (* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 ap_clk CLK" *)
  input ap_clk,
  (* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
  input ap_rst_n,
  input [{iw - 1}:0] in0_V_TDATA, input in0_V_TVALID, output in0_V_TREADY,
  output [{ow - 1}:0] out0_V_TDATA, output out0_V_TVALID, input out0_V_TREADY
);
  wire [{pe * obits - 1}:0] odat;
  mvu_binary #(
    .MW({self.get_nodeattr("MW")}), .MH({self.get_nodeattr("MH")}), .PE({pe}), .SIMD({simd}),
    .ACCU_WIDTH({self.accu_width()}), .N_THRESHOLDS({n_thresholds}),
    .THRESHOLD_WIDTH({self.threshold_width()}), .OUT_WIDTH({obits}), .ACT_VAL({act_val}),
    .WEIGHT_FILE("{code_gen_dir}/{WEIGHT_FILE}"), .THRESHOLD_FILE("{thr_file}"),
    .RAM_STYLE("{self.get_nodeattr("ram_style")}")
  ) core (
    .clk(ap_clk), .rst(!ap_rst_n),
    .s_tdata(in0_V_TDATA[{simd - 1}:0]), .s_tvalid(in0_V_TVALID), .s_tready(in0_V_TREADY),
    .m_tdata(odat), .m_tvalid(out0_V_TVALID), .m_tready(out0_V_TREADY)
  );
  assign out0_V_TDATA = {ow}'(odat);
endmodule
"""

    def generate_hdl(self, model, fpgapart, clk) -> None:
        """Parameter files and the wrapper into ``code_gen_dir_ipgen``."""
        self.check_supported()
        code_gen_dir = self.get_nodeattr("code_gen_dir_ipgen")
        self.generate_params(model, code_gen_dir)
        self.set_nodeattr("gen_top_module", self.get_verilog_top_module_name())
        text = self.wrapper_text(code_gen_dir, self._threshold_steps)
        Path(code_gen_dir, self.get_nodeattr("gen_top_module") + "_wrapper.v").write_text(text)
        self.set_nodeattr("ipgen_path", code_gen_dir)
        self.set_nodeattr("ip_path", code_gen_dir)

    def get_rtl_file_list(self, abspath: bool = False) -> list[str]:
        """The generated wrapper, the core and FINN's memstream."""
        wrapper = self.get_nodeattr("gen_top_module") + "_wrapper.v"
        if not abspath:
            return [wrapper, *CORE_FILES, "memstream.sv"]
        from finn.util.settings import get_settings

        gen = Path(self.get_nodeattr("code_gen_dir_ipgen"))
        memstream = Path(get_settings().finn_rtllib) / "memstream/hdl/memstream.sv"
        return [str(gen / wrapper), *(str(HDL_DIR / f) for f in CORE_FILES), str(memstream)]

    def get_verilog_top_module_intf_names(self) -> dict:
        """One stream in, one out (the weights are inside the layer)."""
        intf = super().get_verilog_top_module_intf_names()
        intf["axilite"] = []
        return intf

    def code_generation_ipi(self) -> list[str]:
        """Vivado IP-integrator TCL: add the sources, instantiate the wrapper as a module
        (as FINN's Thresholding_rtl does). Not runnable here (no Vivado)."""
        cmd = [f"add_files -norecurse {f}" for f in self.get_rtl_file_list(abspath=True)]
        top, name = self.get_nodeattr("gen_top_module"), self.onnx_node.name
        cmd.append(f"create_bd_cell -type module -reference {top} {name}")
        return cmd

    # --- estimates ----------------------------------------------------------------------
    def lut_estimation(self, fpgapart=None) -> int:
        """A structural model, not yet calibrated by synthesis: per PE x SIMD lane one LUT for
        XNOR + popcount tree; per PE an accumulator and one comparator per threshold; the
        input replay buffer as LUTRAM (64 bits per LUT)."""
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        mw, mh = self.get_nodeattr("MW"), self.get_nodeattr("MH")
        steps = 0 if self.get_nodeattr("noActivation") else self._steps_from_attrs()
        acc = self.accu_width()
        lanes = pe * simd
        per_pe = acc + steps * math.ceil(acc / 2)
        sf, nf = mw // simd, mh // pe
        replay = simd * math.ceil(sf / 64) if nf > 1 else 0
        return int(lanes + pe * per_pe + replay)

    def _steps_from_attrs(self) -> int:
        odt = self.get_output_datatype()
        return 1 if odt.name == "BIPOLAR" else 2 ** odt.bitwidth() - 1

    def dsp_estimation(self, fpgapart=None) -> int:
        return 0


def finn_class() -> type:
    """``MVAUBinary_rtl`` as a FINN hardware op (a subclass of ``MVAU`` and ``RTLBackend``)."""
    from finn.custom_op.fpgadataflow.matrixvectoractivation import MVAU
    from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend

    return type(OP_TYPE, (MVAUBinaryRTL, MVAU, RTLBackend), {"__module__": __name__})
