"""What every op of the RTL layer library shares: the generated AXI-stream wrapper around a
core in ``hdl/``, the file list, the IP-integrator TCL, and Python execution via FINN's base op.

An op is ``Impl`` (a subclass of :class:`RtlLibOp`, plain Python) composed with FINN's base op
and ``RTLBackend`` by :func:`finn_class`, so FINN is imported only after ``prepare_finn``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

HDL_DIR = Path(__file__).parent / "hdl"


def finn_error(msg: str) -> Exception:
    """FINN's user error (one line), for refusals of unsupported configurations."""
    from finn.util.exception import FINNUserError  # lazy: FINN import

    return FINNUserError(msg)


def signed_compare(dt) -> int:
    """1 if values of FINN DataType ``dt`` compare signed in hardware (BIPOLAR codes -1 as 0,
    +1 as 1: they compare unsigned)."""
    return int(dt.signed() and dt.name != "BIPOLAR")


def threshold_steps(inst, model=None) -> int:
    """Embedded threshold steps per output channel of an MVAU/VVAU-like op (0 with
    ``noActivation=1``): the threshold initializer's columns, or without a model those the
    output datatype implies (1 for BIPOLAR, else 2**bits - 1)."""
    if inst.get_nodeattr("noActivation") == 1:
        return 0
    if model is not None:
        return int(model.get_initializer(inst.onnx_node.input[2]).shape[-1])
    odt = inst.get_output_datatype()
    return 1 if odt.name == "BIPOLAR" else 2 ** odt.bitwidth() - 1


def write_hex(path: str, values, width: int) -> None:
    """One value per line as ``width``-bit two's complement hex ($readmemh format)."""
    digits, mask = (width + 3) // 4, (1 << width) - 1
    Path(path).write_text("".join(f"{int(v) & mask:0{digits}x}\n" for v in values))


#: with ``ram_style=auto``, weight memories at least this deep (words) go to block RAM, shallower
#: ones to LUTs (a ROM synthesis merges into the XNOR/multiplier logic; block RAM would use a
#: tiny part of each 512-word BRAM); see docs/rtl-layers.md for the syntheses behind it
BLOCK_RAM_MIN_DEPTH = 64


def weight_ram_style(ram_style: str, depth: int) -> str:
    """``RAM_STYLE`` of ``hdl/weight_stream.sv`` for FINN's ``ram_style`` attribute and a
    weight memory of ``depth`` words: ``block`` (registered read, block RAM) or the style of
    a combinational read (``distributed``: LUTRAM, ``logic``: LUT ROM)."""
    if ram_style in ("block", "ultra"):
        return "block"
    if ram_style == "distributed":
        return "distributed"
    return "block" if depth >= BLOCK_RAM_MIN_DEPTH else "logic"


def finn_class(op_type: str, impl: type, base: type) -> type:
    """``op_type`` as a FINN hardware op: ``impl`` + FINN's ``base`` op + ``RTLBackend``."""
    from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend  # lazy: FINN import

    return type(op_type, (impl, base, RTLBackend), {"__module__": impl.__module__})


class RtlLibOp:
    """Mixin: the parts of a FINN RTL op that are the same for every core of this library.

    A subclass sets ``core`` (module name), ``core_files`` (under ``hdl/``), ``finn_files``
    (under finn-rtllib) and implements :meth:`core_params` and :meth:`write_params`."""

    core: str = ""
    core_files: tuple[str, ...] = ()
    finn_files: tuple[str, ...] = ()

    def finn_base(self) -> type:
        """FINN's base op class (the first FINN class in the MRO after this mixin)."""
        return next(c for c in type(self).__mro__ if c.__module__.startswith("finn."))

    def get_nodeattr_types(self) -> dict:
        from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend  # lazy: FINN import

        attrs = self.finn_base().get_nodeattr_types(self)
        attrs.update(RTLBackend.get_nodeattr_types(self))
        return attrs

    def execute_node(self, context, graph) -> None:
        """Python execution (FINN's base op); RTL simulation is fewerbits' Verilator flow."""
        if self.get_nodeattr("exec_mode") == "rtlsim":
            raise finn_error(
                f"{self.onnx_node.name}: exec_mode rtlsim needs Vivado xsim; simulate this "
                "layer with fewerbits' Verilator flow (hw/rtlsim)"
            )
        self.finn_base().execute_node(self, context, graph)

    # --- to implement -------------------------------------------------------------------
    def check_supported(self) -> None:
        """Refuse configurations the core does not implement (FINN user error)."""

    def write_params(self, model, code_gen_dir: str) -> dict[str, str]:
        """Write the core's memory files; return ``{parameter: absolute file path}``."""
        return {}

    def core_params(self) -> dict[str, int | str]:
        """The core's numeric/string parameters (file parameters come from write_params)."""
        raise NotImplementedError

    # --- code generation ----------------------------------------------------------------
    def core_streams(self) -> list[tuple[str, str, list[str], int, int]]:
        """The core's stream ports: ``(core prefix, "in"|"out", FINN interface names, used
        bits, padded bits)``; a port serving several interfaces is their words concatenated
        (interface 0 lowest). Default: ``s`` <- ``in0_V``, ``m`` -> ``out0_V``."""
        return [
            ("s", "in", ["in0_V"], self.get_instream_width(0), self.get_instream_width_padded(0)),
            (
                "m",
                "out",
                ["out0_V"],
                self.get_outstream_width(0),
                self.get_outstream_width_padded(0),
            ),
        ]

    def wrapper_text(self, files: dict[str, str]) -> str:
        """The generated top: FINN's stream port names around the core."""
        top = self.get_verilog_top_module_name()
        params = {**self.core_params(), **files}
        plist = ",\n".join(
            f"    .{k}({v if isinstance(v, int) else chr(34) + str(v) + chr(34)})"
            for k, v in params.items()
        )
        ports, wires, conns, assigns = [], [], [], []
        for prefix, direction, names, used, padded in self.core_streams():
            n = len(names)
            if direction == "in":
                for i in names:
                    ports.append(
                        f"  input [{padded - 1}:0] {i}_TDATA, input {i}_TVALID, output {i}_TREADY"
                    )
                data = ", ".join(f"{i}_TDATA[{used - 1}:0]" for i in reversed(names))
                vld = ", ".join(f"{i}_TVALID" for i in reversed(names))
                rdy = ", ".join(f"{i}_TREADY" for i in reversed(names))
                conns.append(
                    f".{prefix}_tdata({{{data}}}), .{prefix}_tvalid({{{vld}}}), "
                    f".{prefix}_tready({{{rdy}}})"
                )
            else:
                for i in names:
                    ports.append(
                        f"  output [{padded - 1}:0] {i}_TDATA, output {i}_TVALID, input {i}_TREADY"
                    )
                wires.append(f"  wire [{n * used - 1}:0] {prefix}_dat;")
                for k, i in enumerate(names):
                    assigns.append(
                        f"  assign {i}_TDATA = {padded}'({prefix}_dat[{k * used} +: {used}]);"
                    )
                vld = ", ".join(f"{i}_TVALID" for i in reversed(names))
                rdy = ", ".join(f"{i}_TREADY" for i in reversed(names))
                conns.append(
                    f".{prefix}_tdata({prefix}_dat), .{prefix}_tvalid({{{vld}}}), "
                    f".{prefix}_tready({{{rdy}}})"
                )
        port_text = ",\n".join(ports)
        conn_text = ",\n    ".join(conns)
        wire_text = "\n".join(wires)
        assign_text = "\n".join(assigns)
        return f"""// generated by fewerbits (hw/rtl_lib) for {self.onnx_node.name}
module {top} (
  (* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF {":".join(self._interface_names())}, ASSOCIATED_RESET ap_rst_n" *)
  (* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 ap_clk CLK" *)
  input ap_clk,
  (* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
  input ap_rst_n,
{port_text}
);
{wire_text}
  {self.core} #(
{plist}
  ) core (
    .clk(ap_clk), .rst(!ap_rst_n),
    {conn_text}
  );
{assign_text}
endmodule
"""

    def _interface_names(self) -> list[str]:
        return [i for _, _, names, _, _ in self.core_streams() for i in names]

    def generate_hdl(self, model, fpgapart, clk) -> None:
        """Memory files and the wrapper into ``code_gen_dir_ipgen``."""
        self.check_supported()
        code_gen_dir = self.get_nodeattr("code_gen_dir_ipgen")
        files = self.write_params(model, code_gen_dir)
        self.set_nodeattr("gen_top_module", self.get_verilog_top_module_name())
        wrapper = Path(code_gen_dir, self.get_nodeattr("gen_top_module") + "_wrapper.v")
        wrapper.write_text(self.wrapper_text(files))
        for name in self.core_files:  # the build keeps the HDL it was generated with
            shutil.copyfile(HDL_DIR / name, Path(code_gen_dir, name))
        self.set_nodeattr("ipgen_path", code_gen_dir)
        self.set_nodeattr("ip_path", code_gen_dir)

    def get_rtl_file_list(self, abspath: bool = False) -> list[str]:
        """The generated wrapper, the core and the finn-rtllib files it uses. The core files are
        the copies :meth:`generate_hdl` put into the node's code-gen folder, so a build made
        with an older fewerbits simulates and synthesizes the HDL it was made with (a build
        from before the copies existed falls back to this package's ``hdl/``)."""
        wrapper = self.get_nodeattr("gen_top_module") + "_wrapper.v"
        names = [Path(f).name for f in self.finn_files]
        if not abspath:
            return [wrapper, *self.core_files, *names]
        from finn.util.settings import get_settings  # lazy: FINN import

        gen = Path(self.get_nodeattr("code_gen_dir_ipgen"))
        lib = Path(get_settings().finn_rtllib)
        return [
            str(gen / wrapper),
            *(str(gen / f if (gen / f).is_file() else HDL_DIR / f) for f in self.core_files),
            *(str(lib / f) for f in self.finn_files),
        ]

    def get_verilog_top_module_intf_names(self) -> dict:
        """The streams of :meth:`core_streams`; memories are inside the layer (no AXI-lite)."""
        streams = self.core_streams()
        return {
            "clk": ["ap_clk"],
            "rst": ["ap_rst_n"],
            "s_axis": [(i, p) for _, d, names, _, p in streams if d == "in" for i in names],
            "m_axis": [(i, p) for _, d, names, _, p in streams if d == "out" for i in names],
            "aximm": [],
            "axilite": [],
            "ap_none": [],
        }

    def code_generation_ipi(self) -> list[str]:
        """Vivado IP-integrator TCL: add the sources, instantiate the wrapper as a module (as
        FINN's Thresholding_rtl does). Not runnable here (no Vivado)."""
        cmd = [f"add_files -norecurse {f}" for f in self.get_rtl_file_list(abspath=True)]
        top, name = self.get_nodeattr("gen_top_module"), self.onnx_node.name
        cmd.append(f"create_bd_cell -type module -reference {top} {name}")
        return cmd

    def dsp_estimation(self, fpgapart=None) -> int:
        return 0


class WeightStreamOp(RtlLibOp):
    """An op whose core streams its weights from ``hdl/weight_stream.sv`` (``calc_wmem()``
    words): where they live, and FINN's BRAM model only when that is block RAM."""

    def weight_memory_style(self) -> str:
        """``block`` (BRAM) or ``logic`` / ``distributed`` (LUTs), see :func:`weight_ram_style`."""
        return weight_ram_style(self.get_nodeattr("ram_style"), int(self.calc_wmem()))

    def bram_estimation(self, fpgapart=None) -> int:
        """FINN's model of the base op (BRAM18) when the weights are in block RAM, else 0."""
        if self.weight_memory_style() != "block":
            return 0
        return int(self.finn_base().bram_estimation(self, fpgapart))
