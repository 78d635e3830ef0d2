"""The build side of runtime-writeable weights: weight files and AXI-lite map for deploy/.

A layer with ``runtime_writeable_weights=1`` (``--fit`` sets it with ``ram_style="ultra"``:
URAM has no bitstream initialisation on UltraScale+) gets its weights from the driver over the
AXI-lite port of its weight streamer (:func:`writeable_layers`: MVAU/VVAU in mem_mode
internal_decoupled; one in URAM without such a port is refused). For each, in graph order,
this module writes
``deploy/runtime_weights/<layer>.dat`` with FINN's ``make_weight_file(..., "decoupled_runtime",
...)`` and records where the block design puts the port, derived from FINN's own code:

- the node's IP-integrator hierarchy (``code_generation_ipi``) must create the ``s_axilite``
  pin and connect it to the weight streamer, and FINN's ``CreateStitchedIP.connect_axi`` makes
  it external as ``s_axilite_<k>`` (k counts the stitched IP's AXI-lite ports in node order);
- ``MakeZynqProject`` connects every port of the stitched IP (instance
  ``StreamingDataflowPartition_1``: idma0 is partition 0) to the AXI interconnect and gives it
  an address with its ``assign_axi_addr_proc``: from the PS's peripheral base (0xA0000000 on
  Zynq UltraScale+, 0x40000000 on Zynq-7000), each port in turn, range ``max(4 KiB,
  2**ADDR_WIDTH)``, aligned to its range; idma0's control port comes first (4 KiB: the IODMA's
  registers end at 0x1C). That is :func:`axilite_map`'s ``base_address``; on the board the
  driver takes the address from the bitfile's .hwh (``pynq.Overlay.ip_dict``) and reads the
  weights back, so a wrong prediction cannot go unnoticed. The Vivado side (the block design
  itself) cannot run here.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from fewerbits.core.errors import FewerbitsError

from .driver.runtime_weights import read_weight_file
from .driver.settings import sha256

#: the stitched IP instance MakeZynqProject creates for the accelerator (idma0 is partition 0)
STITCHED_INSTANCE = "StreamingDataflowPartition_1"
#: FINN's assign_axi_addr_proc: the peripheral base of the PS by part family, smallest range
PERIPHERAL_BASE = {"xczu": 0xA000_0000, "xc7z": 0x4000_0000}
MIN_RANGE = 4096
#: weight streamers with an AXI-lite port (finn-rtllib memstream_axi)
MEMSTREAM_OPS = ("MVAU_hls", "MVAU_rtl", "VVAU_hls", "VVAU_rtl")


class RuntimeWeightsError(FewerbitsError):
    """A runtime-writeable layer whose weights the driver could not write (one line)."""


def runtime_layers(model) -> list:
    """The nodes of a hw graph with runtime-writeable weights, in graph order."""
    from qonnx.custom_op.registry import getCustomOp

    out = []
    for node in model.graph.node:
        inst = getCustomOp(node)
        try:
            rw = inst.get_nodeattr("runtime_writeable_weights")
        except AttributeError:
            continue
        if rw:
            out.append(node)
    return out


def has_axilite_port(inst) -> bool:
    """A weight streamer (finn-rtllib memstream) with its AXI-lite port: FINN gives MVAU/VVAU
    one in mem_mode internal_decoupled with runtime_writeable_weights=1."""
    return inst.onnx_node.op_type in MEMSTREAM_OPS and (
        inst.get_verilog_top_module_intf_names().get("axilite") or []
    ) == ["s_axilite"]


def _ram_style(inst) -> str:
    try:
        return str(inst.get_nodeattr("ram_style"))
    except AttributeError:  # a node type without one
        return ""


def writeable_layers(model) -> list:
    """The runtime-writeable layers whose weights the driver writes (those with an AXI-lite
    weight port), in graph order. One with no port whose memory has no bitstream
    initialisation (URAM) is refused naming it; one with no port and initialised memory keeps
    the weights of the bitstream."""
    from qonnx.custom_op.registry import getCustomOp

    out = []
    for node in runtime_layers(model):
        inst = getCustomOp(node)
        if has_axilite_port(inst):
            out.append(node)
        elif _ram_style(inst) == "ultra":
            mode = inst.get_nodeattr("mem_mode") if node.op_type in MEMSTREAM_OPS else "-"
            raise RuntimeWeightsError(
                f"layer {node.name} ({node.op_type}, mem_mode {mode}): weights in URAM but no "
                "AXI-lite port to write them (needs an MVAU/VVAU in mem_mode internal_decoupled); "
                "the layer would compute with zeros"
            )
    return out


def _param(text: str, name: str) -> int:
    m = re.search(rf"parameter\s+{name}\s*=\s*(\d+)\s*,", text)
    if m is None:
        raise RuntimeWeightsError(f"no parameter {name} in the weight streamer wrapper")
    return int(m.group(1))


def streamer_geometry(inst) -> dict:
    """SETS, DEPTH, WIDTH of the node's generated weight streamer and its AXI-lite geometry
    (memstream_wrapper_template.v: ADDR_WIDTH = clog2(SETS*DEPTH*2**clog2(ceil(WIDTH/32))) + 2)."""
    name = inst.onnx_node.name
    gen = Path(inst.get_nodeattr("code_gen_dir_ipgen") or "")
    wrappers = sorted(gen.glob("*_memstream_wrapper.v")) if gen.is_dir() else []
    if not wrappers:
        raise RuntimeWeightsError(
            f"layer {name}: no *_memstream_wrapper.v in {gen} (run step_hw_codegen first)"
        )
    text = wrappers[0].read_text()
    sets, depth, width = (_param(text, k) for k in ("SETS", "DEPTH", "WIDTH"))
    fold = 2 ** math.ceil(math.log2(max(1, -(-width // 32))))
    addr_width = math.ceil(math.log2(sets * depth * fold)) + 2 if sets * depth * fold > 1 else 2
    return {
        "sets": sets,
        "depth": depth,
        "width": width,
        "words_per_line": fold,
        "addr_width": addr_width,
        "init_file_empty": 'INIT_FILE = ""' in text,
    }


def _check_ipi(inst) -> None:
    """FINN's IP-integrator commands of the node expose its weight streamer's AXI-lite port."""
    name = inst.onnx_node.name
    tcl = "\n".join(inst.code_generation_ipi())
    pin = (
        f"create_bd_intf_pin -mode Slave -vlnv xilinx.com:interface:aximm_rtl:1.0 /{name}/s_axilite"
    )
    if pin not in tcl or f"[get_bd_intf_pins {name}/s_axilite]" not in tcl:
        raise RuntimeWeightsError(
            f"layer {name}: FINN's IP-integrator script does not connect s_axilite to its "
            "weight streamer"
        )


def stitched_axilite_names(model, nodes: list) -> dict[str, str]:
    """Node name -> the stitched IP's AXI-lite port FINN's CreateStitchedIP gives it."""
    from finn.transformation.fpgadataflow.create_stitched_ip import CreateStitchedIP

    stitch = CreateStitchedIP("", 10.0)  # connect_axi uses neither part nor clock
    names = {}
    wanted = {n.name for n in nodes}
    for node in model.graph.node:
        before = len(stitch.intf_names["axilite"])
        stitch.connect_axi(node, model)
        added = stitch.intf_names["axilite"][before:]
        if node.name in wanted:
            if len(added) != 1:
                raise RuntimeWeightsError(
                    f"layer {node.name}: CreateStitchedIP exposes {len(added)} AXI-lite ports"
                )
            want = f"make_bd_intf_pins_external [get_bd_intf_pins {node.name}/s_axilite]"
            if want not in stitch.connect_cmds:
                raise RuntimeWeightsError(f"layer {node.name}: s_axilite is not made external")
            names[node.name] = added[0]
    return names


def peripheral_base(part: str) -> int | None:
    for prefix, base in PERIPHERAL_BASE.items():
        if part.lower().startswith(prefix):
            return base
    return None


def axilite_map(geometries: list[dict], part: str) -> list[int | None]:
    """Base address of each runtime-writeable port as FINN's assign_axi_addr_proc assigns it
    (idma0's 4 KiB first, then the stitched IP's ports in order); None for a non-Zynq part."""
    base = peripheral_base(part)
    if base is None:
        return [None] * len(geometries)
    nxt = base + MIN_RANGE  # idma0/s_axi_control
    out = []
    for g in geometries:
        rng = max(MIN_RANGE, 2 ** g["addr_width"])
        offset = (nxt + rng - 1) & ~(rng - 1)
        out.append(offset)
        nxt = offset + rng
    return out


def write_runtime_weights(model, out_dir: Path, part: str) -> list[dict]:
    """``out_dir/runtime_weights/<layer>.dat`` for every runtime-writeable layer of the hw
    graph; the settings.json entries (layer, file, words, port, address). RuntimeWeightsError
    names a layer whose weights could not be written by the driver."""
    from qonnx.custom_op.registry import getCustomOp

    nodes = writeable_layers(model)
    if not nodes:
        return []
    for node in nodes:
        _check_ipi(getCustomOp(node))
    ports = stitched_axilite_names(model, nodes)
    geoms = [streamer_geometry(getCustomOp(n)) for n in nodes]
    bases = axilite_map(geoms, part)
    wdir = Path(out_dir) / "runtime_weights"
    wdir.mkdir(parents=True, exist_ok=True)
    entries = []
    for node, g, base in zip(nodes, geoms, bases, strict=True):
        inst = getCustomOp(node)
        path = wdir / f"{node.name}.dat"
        inst.make_weight_file(model.get_initializer(node.input[1]), "decoupled_runtime", str(path))
        words = len(read_weight_file(path))
        if words != g["sets"] * g["depth"] * g["words_per_line"]:
            raise RuntimeWeightsError(
                f"layer {node.name}: {words} weight words, the streamer holds "
                f"{g['sets']} x {g['depth']} lines x {g['words_per_line']} words"
            )
        entries.append(
            {
                "layer": node.name,
                "op_type": node.op_type,
                "path": f"runtime_weights/{path.name}",
                "sha256": sha256(path),
                "words": words,
                "ip": STITCHED_INSTANCE,
                "interface": ports[node.name],
                "addr_width": g["addr_width"],
                "base_address": base,
                "ram_style": inst.get_nodeattr("ram_style"),
                "bitstream_init": not g["init_file_empty"],
                "depth": g["depth"],
            }
        )
    return entries
