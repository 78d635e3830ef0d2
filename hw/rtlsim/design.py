"""Collect the Verilog FINN generated for RTL nodes and wrap it in one ``fb_top``.

A node's sources are FINN's own list (``get_rtl_file_list(abspath=True)``: the generated
wrapper in ``code_gen_dir_ipgen`` plus finn-rtllib files), plus the weight streamer
(``*_memstream_wrapper.v`` + memstream) for MVAU/VVAU in ``internal_decoupled`` mode, which FINN
only connects in its Vivado IPI script. Absolute paths to memory files inside generated code are
rewritten to ``./<file>`` and the files are copied into the simulation's working directory
(:meth:`fewerbits.hw.sim.Design.stage_data`, done by the back end at run time), so the compiled
model does not depend on where the build lives. :func:`stitched_design` is what a simulator back
end (:mod:`fewerbits.hw.sim`) compiles.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fewerbits.compat.finn import rtllib as verilator_rtllib

from ..runtime_weights import streamer_geometry
from ..sim import Design, RtlSimError

#: FINN RTL layers that carry a weight streamer in internal_decoupled mode
_DECOUPLED = {"MVAU_rtl", "VVAU_rtl"}
#: depth of the FIFO inserted between consecutive layers of a stitched design (unless sized)
FIFO_DEPTH = 32
#: bits per FIFO in the top's occupancy outputs fb_fifo_count / fb_fifo_max
MONITOR_BITS = 32
#: storage of the inter-layer FIFOs (finn-rtllib fifo.sv's RAM_STYLE) up to this depth:
#: "distributed", a pointer FIFO in LUTRAM that Yosys maps to RAM32M/RAM64M (fifo.sv's "shift"
#: style, which it forces below depth 34, becomes depth x width flip-flops in open synthesis;
#: the patch in fewerbits.compat.finn.rtllib lets fifo.sv honour the request at depths 3..33);
#: deeper FIFOs are block RAM (fifo.sv's "auto" would pick UltraRAM above 2,028, which
#: 7-series parts do not have)
DISTRIBUTED_MAX_DEPTH = 257
FIFO_STYLE = "distributed"


def fifo_ram_style(depth: int, style: str = FIFO_STYLE) -> str:
    """The RAM_STYLE a stitched FIFO of ``depth`` gets (``style`` up to
    :data:`DISTRIBUTED_MAX_DEPTH`, else "block")."""
    return style if depth <= DISTRIBUTED_MAX_DEPTH else "block"


#: most streams one tapped top can expose (fb_tap_fire is one 64-bit word)
MAX_TAPS = 64


def is_rtl_node(node) -> bool:
    return node.domain.endswith("fpgadataflow.rtl") or node.op_type.endswith("_rtl")


def skip_reason(node) -> str | None:
    """None if the node's Verilog can be simulated here, else why not."""
    if node.op_type.endswith("_hls"):
        return "HLS layer: its Verilog is produced by Vitis HLS (step_hw_ipgen), not available here (needs Vitis HLS)"
    if not is_rtl_node(node):
        return f"{node.op_type} is not a FINN hardware layer"
    return None


@dataclass
class NodeDesign:
    """One RTL node: its sources, memory files and stream geometry."""

    name: str
    op_type: str
    module: str  # the module fb_top instantiates (FINN's top, or our hierarchy)
    sources: dict[str, str] = field(default_factory=dict)
    data_files: dict[str, Path] = field(default_factory=dict)  # name in workdir -> source file
    in_width: int = 0
    out_width: int = 0
    extra_module: str = ""  # our generated hierarchy (weight streamer + core)
    #: streamed inputs / outputs in port order: (tensor, interface name, padded width)
    inputs: list[tuple[str, str, int]] = field(default_factory=list)
    outputs: list[tuple[str, str, int]] = field(default_factory=list)
    words_in: list[int] = field(default_factory=list)  # words per frame on each input
    #: address bits of the weight streamer's AXI-lite port when it is a port of the module
    #: (``node_design(..., axilite=True)``), else 0
    axilite_width: int = 0


def _add_source(sources: dict[str, str], path: Path, text: str | None = None) -> None:
    text = path.read_text() if text is None else text
    if path.name in sources and sources[path.name] != text:
        raise RtlSimError(f"two different RTL files named {path.name} ({path}); cannot stitch")
    sources[path.name] = text


def node_design(model, node, axilite: bool = False) -> NodeDesign:
    """Sources and geometry of one RTL node of a code-generated (step_hw_codegen) model.

    ``axilite``: a runtime-writeable layer's weight memory starts empty (no init file, as URAM
    on the board) and its weight streamer's AXI-lite port ``s_axilite_*`` is a port of the
    node's module, for the driver to write the weights (hw/rtlsim/axilite.py); otherwise URAM
    weights are preloaded and the port is tied off."""
    from qonnx.custom_op.registry import getCustomOp

    inst = getCustomOp(node)
    gen = Path(inst.get_nodeattr("code_gen_dir_ipgen") or "")
    if not gen.is_dir():
        raise RtlSimError(
            f"node {node.name}: code_gen_dir_ipgen {str(gen)!r} missing; run step_hw_codegen first"
        )
    top = inst.get_nodeattr("gen_top_module") or inst.get_verilog_top_module_name()
    d = NodeDesign(node.name, node.op_type, top)
    d.in_width = inst.get_instream_width_padded(0)
    d.out_width = inst.get_outstream_width_padded(0)
    streamed = [t for t in node.input if t and model.get_initializer(t) is None]
    d.inputs = [(t, f"in{i}_V", inst.get_instream_width_padded(i)) for i, t in enumerate(streamed)]
    d.outputs = [
        (t, f"out{i}_V", inst.get_outstream_width_padded(i)) for i, t in enumerate(node.output)
    ]
    d.words_in = [int(np.prod(inst.get_folded_input_shape(i)[:-1])) for i in range(len(streamed))]
    files = [Path(f) for f in inst.get_rtl_file_list(abspath=True)]
    decoupled = node.op_type in _DECOUPLED and inst.get_nodeattr("mem_mode") == "internal_decoupled"
    if decoupled:
        from finn.util.settings import get_settings

        lib = Path(get_settings().finn_rtllib)
        ms = sorted(gen.glob("*_memstream_wrapper.v"))
        if not ms:
            raise RtlSimError(f"node {node.name}: no *_memstream_wrapper.v in {gen}")
        files += [ms[0], lib / "axi/hdl/axilite.sv", lib / "memstream/hdl/memstream_axi.sv"]
        files += [lib / "memstream/hdl/memstream.sv"]
    # memory files of this node, renamed into one flat working directory
    renames: dict[str, str] = {}
    for f in sorted(gen.iterdir()):
        if f.suffix == ".dat":
            new = f.name if f.name.startswith(node.name) else f"{node.name}__{f.name}"
            d.data_files[new] = f
            renames[str(f)] = f"./{new}"
    for f in files:
        text = f.read_text()
        if f.parent == gen:
            for old, new in renames.items():
                text = text.replace(old, new)
            if decoupled and f == ms[0]:
                text = (
                    _empty_weight_memory(text, inst)
                    if axilite
                    else _preload_runtime_weights(text, inst, renames, gen)
                )
        _add_source(d.sources, f, text)
    if decoupled:
        d.module = f"fb_{node.name}"
        wwidth = inst.get_instream_width_padded(1)
        aw = d.axilite_width = _axilite_width(inst) if axilite else 0
        d.extra_module = _decoupled_wrapper(
            d.module, top, ms[0].stem, d.in_width, d.out_width, wwidth, aw
        )
        d.sources[f"{d.module}.sv"] = d.extra_module
    d.sources = verilator_rtllib.patch_sources(d.sources)
    return d


def _preload_runtime_weights(text: str, inst, renames: dict[str, str], gen: Path) -> str:
    """Weights in URAM on UltraScale+ (``ram_style="ultra"``, runtime-writeable) get no init
    file from FINN (``INIT_FILE = ""``: the driver writes them over AXI-lite at start-up); the
    simulation preloads the same ``memblock.dat`` instead, standing in for that write."""
    if inst.get_nodeattr("ram_style") != "ultra" or 'INIT_FILE = ""' not in text:
        return text
    init = renames.get(str(gen / "memblock.dat"))
    if init is None:
        raise RtlSimError(f"node {inst.onnx_node.name}: URAM weights but no memblock.dat in {gen}")
    return text.replace('INIT_FILE = ""', f'INIT_FILE = "{init}"', 1)


def _empty_weight_memory(text: str, inst) -> str:
    """The weight streamer with no init file: memory starts as on the board with URAM."""
    if not inst.get_nodeattr("runtime_writeable_weights"):
        raise RtlSimError(
            f"node {inst.onnx_node.name}: weights are not runtime-writeable, no AXI-lite port"
        )
    return re.sub(r'INIT_FILE = "[^"]*"', 'INIT_FILE = ""', text, count=1)


def _axilite_width(inst) -> int:
    """Address bits of the weight streamer's AXI-lite port (as the board's block design)."""
    return streamer_geometry(inst)["addr_width"]


#: AXI-lite signals of finn-rtllib's memstream wrapper: (name, direction, width; 0 = address)
AXILITE_PORTS = (
    ("AWVALID", "input", 1),
    ("AWREADY", "output", 1),
    ("AWADDR", "input", 0),
    ("WVALID", "input", 1),
    ("WREADY", "output", 1),
    ("WDATA", "input", 32),
    ("WSTRB", "input", 4),
    ("BVALID", "output", 1),
    ("BREADY", "input", 1),
    ("BRESP", "output", 2),
    ("ARVALID", "input", 1),
    ("ARREADY", "output", 1),
    ("ARADDR", "input", 0),
    ("RVALID", "output", 1),
    ("RREADY", "input", 1),
    ("RDATA", "output", 32),
    ("RRESP", "output", 2),
)


def _axilite_connections(aw: int) -> tuple[str, str]:
    """(port declarations of the wrapper, the streamer's AXI-lite connections): exposed when
    ``aw`` > 0, else tied off."""
    if not aw:
        ties = (
            ".s_axilite_AWVALID(1'b0), .s_axilite_AWPROT(3'b0), .s_axilite_AWADDR('0),\n"
            "    .s_axilite_WVALID(1'b0), .s_axilite_WDATA(32'b0), .s_axilite_WSTRB(4'b0),\n"
            "    .s_axilite_BREADY(1'b0), .s_axilite_ARVALID(1'b0), .s_axilite_ARPROT(3'b0),\n"
            "    .s_axilite_ARADDR('0), .s_axilite_RREADY(1'b0),"
        )
        return "", ties
    decl = "".join(f",\n  {d} [{(w or aw) - 1}:0] s_axilite_{n}" for n, d, w in AXILITE_PORTS)
    conn = " ".join(f".s_axilite_{n}(s_axilite_{n})," for n, _, _ in AXILITE_PORTS)
    return decl, conn + " .s_axilite_AWPROT(3'b0), .s_axilite_ARPROT(3'b0),"


def _decoupled_wrapper(
    name: str, core: str, streamer: str, iw: int, ow: int, ww: int, aw: int = 0
) -> str:
    """Weight streamer -> core in1_V, as FINN's IPI hierarchy does it; with ``aw`` address
    bits the streamer's AXI-lite port is the wrapper's ``s_axilite_*``."""
    decl, axil = _axilite_connections(aw)
    return f"""// generated by fewerbits (hw/rtlsim/design.py): {core} with its weight streamer
module {name}(
  input ap_clk, input ap_rst_n,
  input [{iw - 1}:0] in0_V_TDATA, input in0_V_TVALID, output in0_V_TREADY,
  output [{ow - 1}:0] out0_V_TDATA, output out0_V_TVALID, input out0_V_TREADY{decl});
  wire [{ww - 1}:0] w_tdata; wire w_tvalid, w_tready;
  {streamer} wstrm(.ap_clk(ap_clk), .ap_clk2x(ap_clk), .ap_rst_n(ap_rst_n),
    {axil}
    .s_axis_0_tvalid(1'b0), .s_axis_0_tdata('0),
    .m_axis_0_tdata(w_tdata), .m_axis_0_tvalid(w_tvalid), .m_axis_0_tready(w_tready));
  {core} core(.ap_clk(ap_clk), .ap_clk2x(ap_clk), .ap_rst_n(ap_rst_n),
    .in1_V_TDATA(w_tdata), .in1_V_TVALID(w_tvalid), .in1_V_TREADY(w_tready),
    .in0_V_TDATA(in0_V_TDATA), .in0_V_TVALID(in0_V_TVALID), .in0_V_TREADY(in0_V_TREADY),
    .out0_V_TDATA(out0_V_TDATA), .out0_V_TVALID(out0_V_TVALID), .out0_V_TREADY(out0_V_TREADY));
endmodule
"""


def _instance(d: NodeDesign, idx: int, i: str, o: str, axil: str = "") -> str:
    """The node's instance; ``axil``: the top's AXI-lite port prefix for its weight streamer."""
    clk2x = ".ap_clk2x(ap_clk), " if "ap_clk2x" in _ports_of(d) else ""
    lite = "".join(f", .s_axilite_{n}({axil}_{n})" for n, _, _ in AXILITE_PORTS) if axil else ""
    return (
        f"  {d.module} n{idx}(.ap_clk(ap_clk), {clk2x}.ap_rst_n(ap_rst_n),\n"
        f"    .in0_V_TDATA({i}_tdata), .in0_V_TVALID({i}_tvalid), .in0_V_TREADY({i}_tready),\n"
        f"    .out0_V_TDATA({o}_tdata), .out0_V_TVALID({o}_tvalid), .out0_V_TREADY({o}_tready){lite});\n"
    )


def axilite_prefixes(designs: list[NodeDesign]) -> list[str]:
    """Per design the top's AXI-lite port prefix (``axil<j>``, j counting the designs whose
    weight streamer has its AXI-lite port exposed, in order), "" for the others."""
    out, j = [], 0
    for d in designs:
        out.append(f"axil{j}" if d.axilite_width else "")
        j += 1 if d.axilite_width else 0
    return out


def _axilite_top_ports(designs: list[NodeDesign]) -> str:
    return "".join(
        f",\n  {dr} [{(w or d.axilite_width) - 1}:0] {p}_{n}"
        for d, p in zip(designs, axilite_prefixes(designs), strict=True)
        if p
        for n, dr, w in AXILITE_PORTS
    )


def _ports_of(d: NodeDesign) -> str:
    """Text of the node's top module header (to see which optional ports exist)."""
    for text in d.sources.values():
        start = text.find(f"module {d.module}")
        if start >= 0:
            return text[start : text.find(");", start)]
    return ""


@dataclass(frozen=True)
class Link:
    """A stream between two layers: producer output port -> consumer input port."""

    src: int  # index of the producer in the designs
    src_port: int
    dst: int
    dst_port: int
    width: int


def is_chain(designs: list[NodeDesign]) -> bool:
    """True when every layer has one streamed input and one output (a pipeline)."""
    return all(len(d.inputs) <= 1 and len(d.outputs) <= 1 for d in designs)


def links(designs: list[NodeDesign]) -> list[Link]:
    """The streams between layers, by producer then output port (a chain: k -> k + 1). A layer
    graph with forks (DuplicateStreams) and joins (AddStreams) links by tensor name."""
    if is_chain(designs):
        return [Link(k, 0, k + 1, 0, d.out_width) for k, d in enumerate(designs[:-1])]
    consumer = {t: (j, p) for j, d in enumerate(designs) for p, (t, _, _) in enumerate(d.inputs)}
    out = []
    for k, d in enumerate(designs):
        for p, (t, _, w) in enumerate(d.outputs):
            if t in consumer:
                out.append(Link(k, p, *consumer[t], w))
    return out


def _link_name(designs: list[NodeDesign], ln: Link) -> str:
    return f"{designs[ln.src].name} -> {designs[ln.dst].name}"


def link_depths(designs: list[NodeDesign], fifo_depths: int | Sequence[int]) -> list[int]:
    """One FIFO depth per link between layers (a single int: the same for every link, except
    that the shortcut of a residual join holds a whole frame; see :func:`join_depths`)."""
    lk = links(designs)
    if isinstance(fifo_depths, int):
        depths = [max(int(fifo_depths), j) for j in join_depths(designs, lk)]
    else:
        depths = list(fifo_depths)
    if len(depths) != len(lk):
        raise RtlSimError(f"{len(depths)} FIFO depths given for {len(lk)} links between layers")
    bad = [(k, d) for k, d in enumerate(depths) if d < 2]
    if bad:
        k, d = bad[0]
        raise RtlSimError(
            f"FIFO {k} ({_link_name(designs, lk[k])}): depth {d}; finn-rtllib's fifo needs >= 2"
        )
    return [int(d) for d in depths]


def join_depths(designs: list[NodeDesign], lk: list[Link]) -> list[int]:
    """Per link the least depth that cannot deadlock: a link into a join (a layer with two
    inputs) gets its frame's words plus two, since the other branch may hold back its first
    output for up to a frame (sliding windows) while the fork keeps feeding both; 0 elsewhere."""
    out = []
    for ln in lk:
        d = designs[ln.dst]
        out.append(d.words_in[ln.dst_port] + 2 if len(d.inputs) > 1 else 0)
    return out


def folded_link_depths(folding: dict, designs: list[NodeDesign]) -> list[int] | None:
    """Link depths from a FINN folding config as FINN's InsertFIFO reads it: the larger of the
    producer's ``outFIFODepths[port]`` and the consumer's ``inFIFODepths[port]``; None when the
    config sets no FIFO depth for some link."""
    depths = []
    for ln in links(designs):
        out_d = folding.get(designs[ln.src].name, {}).get("outFIFODepths", [])
        in_d = folding.get(designs[ln.dst].name, {}).get("inFIFODepths", [])
        o = out_d[ln.src_port] if len(out_d) > ln.src_port else 0
        i = in_d[ln.dst_port] if len(in_d) > ln.dst_port else 0
        if max(o, i) < 2:
            return None
        depths.append(int(max(o, i)))
    return depths


def tap_streams(designs: list[NodeDesign]) -> list[tuple[int, int]]:
    """The tapped streams of a debug top, in order: every output port of every layer, as
    ``(layer index, output port)`` (a chain: one per layer)."""
    return [(k, p) for k, d in enumerate(designs) for p in range(max(1, len(d.outputs)))]


def _out_width(d: NodeDesign, port: int) -> int:
    return d.outputs[port][2] if d.outputs else d.out_width


def tap_bytes(designs: list[NodeDesign]) -> tuple[int, ...]:
    """Bytes per word of each tapped stream (:func:`tap_streams`), padded to whole 32-bit
    words as the stitched top lays them out in ``fb_tap_data``."""
    return tuple(4 * -(-_out_width(designs[k], p) // 32) for k, p in tap_streams(designs))


def _port_lines(n_fifos: int, tapped: tuple[int, ...]) -> str:
    """The stitched top's outputs beyond the streams: the FIFO monitors (with any FIFO) and,
    in a debug top, the taps."""
    mon = n_fifos * MONITOR_BITS
    out = (
        f",\n  output [{mon - 1}:0] fb_fifo_count, output [{mon - 1}:0] fb_fifo_max" if mon else ""
    )
    if len(tapped) > MAX_TAPS:
        raise RtlSimError(f"{len(tapped)} layer outputs to tap; at most {MAX_TAPS} per model")
    if tapped:
        out += (
            f",\n  output [{len(tapped) - 1}:0] fb_tap_fire,"
            f" output [{8 * sum(tapped) - 1}:0] fb_tap_data"
        )
    return out


def _tap_line(i: int, stream: str, tapped: tuple[int, ...]) -> str:
    """Tap ``i`` of a debug top: stream ``stream``'s handshake and data."""
    lo, nb = 8 * sum(tapped[:i]), 8 * tapped[i]
    return (
        f"  assign fb_tap_fire[{i}] = {stream}_tvalid && {stream}_tready;"
        f" assign fb_tap_data[{lo + nb - 1}:{lo}] = {nb}'({stream}_tdata);\n"
    )


#: the file a top with FIFO capacity limits reads them from (one hex word per FIFO)
LIMIT_FILE = "fb_fifo_limit.dat"


def _fifo_lines(
    n: int, a: str, f: str, width: int, depth: int, fifo_style: str, limits: bool
) -> list[str]:
    """The inter-layer FIFO ``q{n}`` from stream ``a`` (declared by the caller) to stream
    ``f`` (declared here), its occupancy on the monitor outputs (bits 32n..32n+31 of
    ``fb_fifo_count`` / ``fb_fifo_max``). ``limits``: the FIFO accepts a word only while it
    holds fewer than ``fb_limit[n]`` (read at run time from :data:`LIMIT_FILE`): the measuring
    model of FIFO sizing emulates smaller depths with it, without a recompile."""
    lo, hi = n * MONITOR_BITS, (n + 1) * MONITOR_BITS - 1
    cw = depth.bit_length() + 1  # fifo.sv's count width: $clog2(DEPTH+1) + 1
    out = [
        f"  wire [{width - 1}:0] {f}_tdata; wire {f}_tvalid, {f}_tready;\n",
        f"  wire [{cw - 1}:0] {f}_count, {f}_max;\n",
        f"  assign fb_fifo_count[{hi}:{lo}] = {MONITOR_BITS}'({f}_count);"
        f" assign fb_fifo_max[{hi}:{lo}] = {MONITOR_BITS}'({f}_max);\n",
    ]
    ivld, irdy = f"{a}_tvalid", f"{a}_tready"
    if limits:
        out.append(
            f"  wire {f}_open = {MONITOR_BITS}'({f}_count) < fb_limit[{n}]; wire {f}_irdy;"
            f" assign {a}_tready = {f}_irdy && {f}_open;\n"
        )
        ivld, irdy = f"{a}_tvalid && {f}_open", f"{f}_irdy"
    out.append(
        f"  fifo #(.DEPTH({depth}), .DATA_WIDTH({width}), "
        f'.RAM_STYLE("{fifo_ram_style(depth, fifo_style)}")) q{n}(.clk(ap_clk), '
        f".rst(!ap_rst_n), .idat({a}_tdata), .ivld({ivld}), .irdy({irdy}), "
        f".odat({f}_tdata), .ovld({f}_tvalid), .ordy({f}_tready), "
        f".count({f}_count), .maxcount({f}_max));\n"
    )
    return out


def _limit_lines(n_fifos: int, limits: bool) -> list[str]:
    """The capacity limits' memory, read at run time (see :func:`_fifo_lines`)."""
    if not limits or not n_fifos:
        return []
    return [
        f"  logic [{MONITOR_BITS - 1}:0] fb_limit [0:{n_fifos - 1}];\n",
        f'  initial $readmemh("{LIMIT_FILE}", fb_limit);\n',
    ]


def stitched_top(
    designs: list[NodeDesign],
    fifo_depths: int | Sequence[int] = FIFO_DEPTH,
    taps: bool = False,
    fifo_style: str = FIFO_STYLE,
    limits: bool = False,
) -> dict[str, str]:
    """All node sources plus ``fb_top``: the nodes in order with a FIFO between neighbours
    (depth ``fifo_depths[k]`` after node k, storage ``fifo_style``). With two or more nodes the
    top also has the outputs ``fb_fifo_count`` / ``fb_fifo_max``: every FIFO's occupancy and its
    maximum since reset (finn-rtllib fifo's count/maxcount), :data:`MONITOR_BITS` bits per FIFO.
    ``taps``: also the outputs ``fb_tap_fire`` (bit k: layer k's output handshakes) and
    ``fb_tap_data`` (layer k's output word at byte offset ``sum(tap_bytes[:k])``), for
    locating the first layer whose stream differs (:func:`tap_bytes`). ``limits``: each FIFO's
    capacity limited at run time (:func:`_fifo_lines`). A node whose weight streamer's AXI-lite
    port is exposed (``node_design(..., axilite=True)``) has it as the top's ``axil<j>_*``
    ports (:func:`axilite_prefixes`; a chain only)."""
    from finn.util.settings import get_settings

    depths = link_depths(designs, fifo_depths)
    sources: dict[str, str] = {}
    for d in designs:
        for name, text in d.sources.items():
            if name in sources and sources[name] != text:
                raise RtlSimError(f"{d.name}: RTL file {name} differs from another node's copy")
            sources[name] = text
    if len(designs) > 1:
        fifo = Path(get_settings().finn_rtllib) / "fifo/hdl/fifo.sv"
        sources = verilator_rtllib.patch_sources({**sources, "fifo.sv": fifo.read_text()})
    tapped = tap_bytes(designs) if taps else ()
    lite = axilite_prefixes(designs)
    if not is_chain(designs):
        if any(lite):
            raise RtlSimError("AXI-lite weight ports in a top with forks and joins: not supported")
        sources["fb_top.sv"] = _graph_top(designs, depths, fifo_style, limits, tapped)
        return sources
    iw, ow = designs[0].in_width, designs[-1].out_width
    monitor_ports = _port_lines(len(depths), tapped) + _axilite_top_ports(designs)
    body = [
        "// generated by fewerbits (hw/rtlsim/design.py)\n",
        "module fb_top(input ap_clk, input ap_rst_n,\n",
        f"  input [{iw - 1}:0] in_tdata, input in_tvalid, output in_tready,\n",
        f"  output [{ow - 1}:0] out_tdata, output out_tvalid, input out_tready{monitor_ports});\n",
        *_limit_lines(len(depths), limits),
    ]
    prev = "in"
    for k, d in enumerate(designs):
        last = k == len(designs) - 1
        o = "out" if last else f"s{k}"
        if not last:
            body.append(f"  wire [{d.out_width - 1}:0] {o}_tdata; wire {o}_tvalid, {o}_tready;\n")
        body.append(_instance(d, k, prev, o, lite[k]))
        if tapped:
            body.append(_tap_line(k, o, tapped))
        if not last:
            nxt = designs[k + 1]
            if nxt.in_width != d.out_width:
                raise RtlSimError(
                    f"{d.name} -> {nxt.name}: stream widths {d.out_width} != {nxt.in_width}; "
                    "a data-width converter is missing from the graph"
                )
            f = f"f{k}"
            body += _fifo_lines(k, o, f, d.out_width, depths[k], fifo_style, limits)
            prev = f
    body.append("endmodule\n")
    sources["fb_top.sv"] = "".join(body)
    return sources


def _graph_top(
    designs: list[NodeDesign],
    depths: list[int],
    fifo_style: str = FIFO_STYLE,
    limits: bool = False,
    tapped: tuple[int, ...] = (),
) -> str:
    """``fb_top`` for a layer graph with forks and joins: each link through its own FIFO, the
    graph input into the stream no layer produces, the output from the one no layer consumes.
    Same ports as the chain's top (one stream in, one out, the FIFO monitors, in a debug top
    the taps: every output port of every layer, :func:`tap_streams`)."""
    lk = links(designs)
    ends_in = [(k, p) for k, d in enumerate(designs) for p in range(len(d.inputs))]
    ends_in = [e for e in ends_in if not any((ln.dst, ln.dst_port) == e for ln in lk)]
    ends_out = [(k, p) for k, d in enumerate(designs) for p in range(len(d.outputs))]
    ends_out = [e for e in ends_out if not any((ln.src, ln.src_port) == e for ln in lk)]
    if len(ends_in) != 1 or len(ends_out) != 1:
        raise RtlSimError(
            f"layer graph with {len(ends_in)} unconnected inputs and {len(ends_out)} outputs; "
            "the stitched top streams one input and one output"
        )
    (ki, pi), (ko, po) = ends_in[0], ends_out[0]
    iw, ow = designs[ki].inputs[pi][2], designs[ko].outputs[po][2]
    body = [
        "// generated by fewerbits (hw/rtlsim/design.py): a layer graph with forks and joins\n",
        "module fb_top(input ap_clk, input ap_rst_n,\n",
        f"  input [{iw - 1}:0] in_tdata, input in_tvalid, output in_tready,\n",
        f"  output [{ow - 1}:0] out_tdata, output out_tvalid, input out_tready",
        _port_lines(len(lk), tapped),
        ");\n",
    ]
    src = {(ki, "i", pi): "in", (ko, "o", po): "out"}
    body += _limit_lines(len(lk), limits)
    for n, ln in enumerate(lk):
        a, f = f"s{n}", f"f{n}"
        src[(ln.src, "o", ln.src_port)], src[(ln.dst, "i", ln.dst_port)] = a, f
        w = ln.width
        if designs[ln.dst].inputs[ln.dst_port][2] != w:
            raise RtlSimError(
                f"{_link_name(designs, ln)}: stream widths {w} != "
                f"{designs[ln.dst].inputs[ln.dst_port][2]}; a data-width converter is missing"
            )
        body.append(f"  wire [{w - 1}:0] {a}_tdata; wire {a}_tvalid, {a}_tready;\n")
        body += _fifo_lines(n, a, f, w, depths[n], fifo_style, limits)
    for i, (k, p) in enumerate(tap_streams(designs) if tapped else ()):
        body.append(_tap_line(i, src[(k, "o", p)], tapped))
    for k, d in enumerate(designs):
        clk2x = ".ap_clk2x(ap_clk), " if "ap_clk2x" in _ports_of(d) else ""
        ports = [
            f".{i}_TDATA({{w}}_tdata), .{i}_TVALID({{w}}_tvalid), .{i}_TREADY({{w}}_tready)".replace(
                "{w}", src[(k, "i", p)]
            )
            for p, (_, i, _) in enumerate(d.inputs)
        ]
        ports += [
            f".{o}_TDATA({{w}}_tdata), .{o}_TVALID({{w}}_tvalid), .{o}_TREADY({{w}}_tready)".replace(
                "{w}", src[(k, "o", p)]
            )
            for p, (_, o, _) in enumerate(d.outputs)
        ]
        body.append(f"  {d.module} n{k}(.ap_clk(ap_clk), {clk2x}.ap_rst_n(ap_rst_n),\n    ")
        body.append(",\n    ".join(ports) + ");\n")
    body.append("endmodule\n")
    return "".join(body)


def stitched_design(
    designs: list[NodeDesign],
    fifo_depths: int | Sequence[int] = FIFO_DEPTH,
    name: str = "stitched accelerator",
    debug: bool = False,
    fifo_style: str = FIFO_STYLE,
    quick: bool = False,
    limit_file: Path | None = None,
) -> Design:
    """The simulation top level of ``designs`` in order (:func:`stitched_top`) with every memory
    file they read, as a simulator back end takes it. ``debug``: with stream taps and able to
    write an FST waveform (a separate, slower model; only for locating a mismatch). ``quick``:
    compiled for build time, not run time (:attr:`Design.quick`; FIFO sizing's short runs).
    ``limit_file``: FIFO capacities set at run time from that file (staged as
    :data:`LIMIT_FILE` into the working directory; :func:`_fifo_lines`)."""
    data_files: dict[str, Path] = {}
    for d in designs:
        data_files.update(d.data_files)
    limits = limit_file is not None
    sources = stitched_top(designs, fifo_depths, taps=debug, fifo_style=fifo_style, limits=limits)
    if limits:
        data_files[LIMIT_FILE] = Path(limit_file)
    monitors = len(links(designs))
    taps = tap_bytes(designs) if debug else ()
    return Design(
        name,
        sources,
        data_files=data_files,
        fifo_monitors=monitors,
        taps=taps,
        trace=debug,
        quick=quick,
    )


def is_multi_port(d: NodeDesign) -> bool:
    """True for a layer with several streamed inputs or outputs (DuplicateStreams, AddStreams)."""
    return len(d.inputs) > 1 or len(d.outputs) > 1


def _lfsr(name: str, seed: int, gated: bool = True) -> str:
    """A 16-bit Fibonacci LFSR ``name`` (never zero) and ``name_en``: high 3 cycles in 4 on
    average (always high when not ``gated``)."""
    if not gated:
        return f"  wire {name}_en = 1'b1;\n"
    s = (seed * 40503 + 1) & 0xFFFF or 1
    return (
        f"  logic [15:0] {name} = 16'h{s:04x};\n"
        f"  always_ff @(posedge ap_clk) {name} <= {{{name}[14:0], "
        f"{name}[15] ^ {name}[13] ^ {name}[12] ^ {name}[10]}};\n"
        f"  wire {name}_en = {name}[0] | {name}[7];\n"
    )


def port_test_design(d: NodeDesign, seed: int = 1, port_stalls: bool = True) -> Design:
    """One multi-stream layer in a top with the harness' one input and one output: the input
    word holds every input port's word (port 0 lowest, each at its padded width), split into a
    small FIFO per port; the output word holds every output port's word, each port behind its
    own FIFO. With ``port_stalls`` each port's handshake is gated by its own pseudo-random
    enable, so the ports stall independently of each other (and of the harness' own stalls);
    without, the layer runs at full rate (for cycle counts)."""
    from finn.util.settings import get_settings

    iw, ow = sum(w for *_, w in d.inputs), sum(w for *_, w in d.outputs)
    body = [
        "// generated by fewerbits (hw/rtlsim/design.py): node test with independent port stalls\n",
        "module fb_top(input ap_clk, input ap_rst_n,\n",
        f"  input [{iw - 1}:0] in_tdata, input in_tvalid, output in_tready,\n",
        f"  output [{ow - 1}:0] out_tdata, output out_tvalid, input out_tready);\n",
    ]
    ports, lo = [], 0
    n_in, n_out = len(d.inputs), len(d.outputs)
    body.append(f"  wire [{n_in - 1}:0] ii_rdy; assign in_tready = &ii_rdy;\n")
    for p, (_, name, w) in enumerate(d.inputs):
        body.append(_lfsr(f"gi{p}", seed + p, port_stalls))
        cw = (2 + 3 * p).bit_length() + 1
        body.append(
            f"  wire [{w - 1}:0] pi{p}_dat; wire pi{p}_vld, pi{p}_rdy; wire [{cw - 1}:0] ci{p}, mi{p};\n"
        )
        body.append(
            f"  fifo #(.DEPTH({2 + 3 * p}), .DATA_WIDTH({w})) qi{p}(.clk(ap_clk), .rst(!ap_rst_n), "
            f".idat(in_tdata[{lo + w - 1}:{lo}]), .ivld(in_tvalid && in_tready), .irdy(ii_rdy[{p}]), "
            f".odat(pi{p}_dat), .ovld(pi{p}_vld), .ordy(pi{p}_rdy && gi{p}_en), "
            f".count(ci{p}), .maxcount(mi{p}));\n"
        )
        ports.append(
            f".{name}_TDATA(pi{p}_dat), .{name}_TVALID(pi{p}_vld && gi{p}_en), .{name}_TREADY(pi{p}_rdy)"
        )
        lo += w
    lo = 0
    body.append(f"  wire [{n_out - 1}:0] oo_vld; assign out_tvalid = &oo_vld;\n")
    for p, (_, name, w) in enumerate(d.outputs):
        body.append(_lfsr(f"go{p}", seed + 17 + p, port_stalls))
        cw = (2 + 3 * p).bit_length() + 1
        body.append(
            f"  wire [{w - 1}:0] po{p}_dat; wire po{p}_vld, po{p}_rdy, qo{p}_rdy; wire [{cw - 1}:0] co{p}, mo{p};\n"
        )
        body.append(f"  assign po{p}_rdy = qo{p}_rdy && go{p}_en;\n")
        body.append(
            f"  fifo #(.DEPTH({2 + 3 * p}), .DATA_WIDTH({w})) qo{p}(.clk(ap_clk), .rst(!ap_rst_n), "
            f".idat(po{p}_dat), .ivld(po{p}_vld && go{p}_en), .irdy(qo{p}_rdy), "
            f".odat(out_tdata[{lo + w - 1}:{lo}]), .ovld(oo_vld[{p}]), .ordy(out_tready && out_tvalid), "
            f".count(co{p}), .maxcount(mo{p}));\n"
        )
        ports.append(
            f".{name}_TDATA(po{p}_dat), .{name}_TVALID(po{p}_vld), .{name}_TREADY(po{p}_rdy)"
        )
        lo += w
    clk2x = ".ap_clk2x(ap_clk), " if "ap_clk2x" in _ports_of(d) else ""
    body.append(f"  {d.module} dut(.ap_clk(ap_clk), {clk2x}.ap_rst_n(ap_rst_n),\n    ")
    body.append(",\n    ".join(ports) + ");\n")
    body.append("endmodule\n")
    fifo = Path(get_settings().finn_rtllib) / "fifo/hdl/fifo.sv"
    sources = verilator_rtllib.patch_sources({**d.sources, "fifo.sv": fifo.read_text()})
    sources["fb_top.sv"] = "".join(body)
    return Design(d.name, sources, data_files=dict(d.data_files), fifo_monitors=0)
