"""The build side of runtime-writeable weights: weight files and AXI-lite map for deploy/.

A layer with ``runtime_writeable_weights=1`` (``--fit`` sets it with ``ram_style="ultra"``:
URAM has no bitstream initialisation on UltraScale+) gets its weights from the driver over the
AXI-lite port of its weight streamer (:func:`writeable_layers`: MVAU/VVAU in mem_mode
internal_decoupled; one in URAM without such a port is refused). For each, in graph order,
this module writes
``deploy/runtime_weights/<layer>.dat`` with FINN's ``make_weight_file(..., "decoupled_runtime",
...)`` and records where the block design puts the port, derived from FINN's own code:

- the node's IP-integrator hierarchy (``code_generation_ipi``) must create the ``s_axilite``
  pin and connect it to the weight streamer;
- the instance and port name come from FINN's own ZynqBuild preparation, run on a copy of the
  graph (:func:`zynq_axilite_ports`): Floorplan starts a new dataflow partition at every layer
  with an AXI-lite port, so each such layer is the first of its own stitched IP
  ``StreamingDataflowPartition_<k>`` (k in graph order, idma0 = 0), whose CreateStitchedIP
  names the port ``s_axilite_0``;
- MakeZYNQProject connects every AXI-lite port to the interconnect and gives it an address with
  its ``assign_axi_addr_proc``: from the PS's peripheral base (0xA0000000 on Zynq UltraScale+,
  0x40000000 on Zynq-7000), each port in that order, range ``max(4 KiB, 2**ADDR_WIDTH)``,
  aligned to its range; idma0's control port comes first (4 KiB: the IODMA's registers end at
  0x1C). That is :func:`axilite_map`'s ``base_address``; on the board the driver takes the
  address from the bitfile's .hwh (``pynq.Overlay.ip_dict``) and reads the weights back, so a
  wrong prediction cannot go unnoticed. The Vivado side (the block design itself) cannot run
  here.
"""

from __future__ import annotations

import copy
import math
import re
import tempfile
from pathlib import Path

from fewerbits.core.errors import FewerbitsError

from .driver.runtime_weights import read_weight_file
from .driver.settings import sha256

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


def zynq_partitions(model, part: str, workdir: Path):
    """The hw graph as FINN's ZynqBuild partitions it before Vivado (InsertIODMA, InsertDWC,
    SpecializeLayers, Floorplan, CreateDataflowPartition, on a copy; partition models in
    ``workdir``): one StreamingDataflowPartition node per stitched IP, in graph order."""
    from finn.transformation.fpgadataflow.create_dataflow_partition import (
        CreateDataflowPartition,
    )
    from finn.transformation.fpgadataflow.floorplan import Floorplan
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.insert_iodma import InsertIODMA
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames
    from qonnx.transformation.infer_data_layouts import InferDataLayouts

    m = ModelWrapper(copy.deepcopy(model.model)).transform(InferDataLayouts())
    prep = [
        InsertIODMA(64),  # ZynqBuild's default AXI port width (it does not change the names)
        InsertDWC(),
        SpecializeLayers(part),
        Floorplan(),
        CreateDataflowPartition(partition_model_dir=str(workdir)),
    ]
    for t in prep:
        m = m.transform(t).transform(GiveUniqueNodeNames()).transform(GiveReadableTensorNames())
    return m


def zynq_axilite_ports(model, part: str, workdir: Path) -> list[tuple[str, str, str]]:
    """Every AXI-lite port of the Zynq block design FINN's ZynqBuild makes of the hw graph, in
    the order its MakeZYNQProject connects and addresses them: (instance, port, node), node ""
    for an IODMA's control port. Floorplan (:func:`zynq_partitions`) puts every layer with an
    AXI-lite port at the start of a partition of its own (``StreamingDataflowPartition_<k>``
    in graph order, idma0 first), and CreateStitchedIP names the partition's ports
    ``s_axilite_<j>``; MakeZYNQProject names the IODMAs idma<i> / odma<i>."""
    from finn.transformation.fpgadataflow.create_stitched_ip import CreateStitchedIP
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    m = zynq_partitions(model, part, workdir)
    ports, idma, odma = [], 0, 0
    for sdp in m.graph.node:
        kernel = ModelWrapper(getCustomOp(sdp).get_nodeattr("model"))
        stitch = CreateStitchedIP(part, 10.0)  # connect_axi uses neither part nor clock
        is_dma = kernel.graph.node[0].op_type.startswith("IODMA")
        inst = sdp.name
        if is_dma and m.find_producer(sdp.input[0]) is None:
            inst, idma = f"idma{idma}", idma + 1
        elif is_dma:
            inst, odma = f"odma{odma}", odma + 1
        for node in kernel.graph.node:
            before = len(stitch.intf_names["axilite"])
            stitch.connect_axi(node, kernel)
            for port in stitch.intf_names["axilite"][before:]:
                ports.append((inst, port, "" if is_dma else node.name))
    return ports


def peripheral_base(part: str) -> int | None:
    for prefix, base in PERIPHERAL_BASE.items():
        if part.lower().startswith(prefix):
            return base
    return None


def axilite_map(ports: list[tuple[str, str, str]], widths: dict[str, int], part: str) -> dict:
    """Base address of each layer's port (node -> address) as FINN's assign_axi_addr_proc
    assigns them: ``ports`` in order (:func:`zynq_axilite_ports`), each range ``max(4 KiB,
    2**ADDR_WIDTH)`` aligned to itself, an IODMA's control port 4 KiB (its registers end at
    0x1C), a layer's ``widths[node]`` address bits; None for each off Zynq."""
    base = peripheral_base(part)
    out: dict[str, int | None] = {}
    nxt = base or 0
    for _, _, node in ports:
        rng = max(MIN_RANGE, 2 ** widths[node]) if node else MIN_RANGE
        offset = (nxt + rng - 1) & ~(rng - 1)
        nxt = offset + rng
        if node:
            out[node] = offset if base is not None else None
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
    geoms = [streamer_geometry(getCustomOp(n)) for n in nodes]
    with tempfile.TemporaryDirectory(prefix="fb_zynq_partitions_") as tmp:
        try:
            ports = zynq_axilite_ports(model, part, Path(tmp))
        except Exception as e:  # FINN's own transformations: say which step of ours ran them
            first = (str(e).splitlines() or [""])[0][:200]
            raise RuntimeWeightsError(
                f"FINN's Zynq partitioning (to name the AXI-lite ports of {nodes[0].name} ...) "
                f"failed: {type(e).__name__}: {first}"
            ) from e
    where = {node: (inst, port) for inst, port, node in ports if node}
    missing = [n.name for n in nodes if n.name not in where]
    if missing:
        raise RuntimeWeightsError(
            f"layer {missing[0]}: FINN's Zynq block design does not connect its AXI-lite port"
        )
    addr = axilite_map(
        ports, {n.name: g["addr_width"] for n, g in zip(nodes, geoms, strict=True)}, part
    )
    bases = [addr[n.name] for n in nodes]
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
                "ip": where[node.name][0],
                "interface": where[node.name][1],
                "addr_width": g["addr_width"],
                "base_address": base,
                "ram_style": inst.get_nodeattr("ram_style"),
                "bitstream_init": not g["init_file_empty"],
                "depth": g["depth"],
            }
        )
    return entries
