"""Gaps in finn-plus's build flow that this project works around (version: requirements.lock).

* :func:`insert_rtl_dwcs` -- FINN inserts the data-width converters between layers only inside
  ``step_set_fifo_depths``, which needs Vivado. Symptom: a code-generated graph without Vivado
  has neighbouring layers with different stream widths and cannot be stitched or simulated.
  Fix: FINN's own ``InsertDWC`` (RTL variant) right before ``step_hw_codegen``; FINN's later
  ``InsertDWC`` is then a no-op. Test: tests/test_compat_finn_build.py.
* :func:`relocate` -- FINN stores absolute code-generation paths in node attributes, scripts and
  reports. Symptom: a build folder that is moved (our builds are staged in a hidden sibling and
  renamed on success) points at the old place and its code generation/simulation fails.
  Fix: rewrite the prefix in every model and text file. Test: tests/test_compat_finn_build.py.
* :func:`partition_parent` -- ``step_create_dataflow_partition`` continues with the accelerator
  partition only; the parent model (with the nodes left outside it, e.g. an input Transpose or a
  float tail) is never saved. Fix: rebuild it from the model that step was given, with FINN's
  own ``CreateDataflowPartition``.
* :func:`as_finn_op_types` -- FINN's ``SetFolding`` (``step_target_fps_parallelization``) picks
  PE/SIMD from hard-coded op-type lists. Symptom: an RTL op registered by another library (e.g.
  fewerbits' ``MVAUBinary_rtl``) keeps PE=SIMD=1, with "SetFolding doesn't know how to handle
  op_type ...". Fix: run the step with such nodes presented under the FINN op type whose
  folding rules they share (``MVAU_rtl``), then restore their op type. Test:
  tests/test_compat_finn_build.py.
* :func:`convert_bipolar_thresholds` -- FINN's ``InferThresholdingLayer`` (standalone
  thresholds, ``step_convert_to_hw``) refuses every MultiThreshold with ``out_scale != 1``,
  including a BIPOLAR output (``out_scale=2, out_bias=-1``, i.e. ``2*step - 1``) that FINN's own
  MVAU conversion accepts as "binary->bipolar by reinterpretation". Symptom: ``MultiThreshold
  out_scale must be 1 for HLS conversion`` on a net with a bipolar output quantizer after
  non-binary weights, so its thresholds stay inside MVAU_hls. Fix: the same reinterpretation
  FINN's MVAU conversion does (``ActVal=0``; FINN's Thresholding maps the step ``y`` of a
  BIPOLAR output to ``2*y - 1``). Test: tests/test_bipolar_rtl.py.

FINN/onnx imports are inside the functions: they take seconds and need
:func:`fewerbits.compat.finn.env.prepare_finn` to have run first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fewerbits.core import versions

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

FINN_PLUS_VERSION = versions.FINN_PLUS

#: text files in a build (or run) folder that may hold absolute paths (report.md: the
#: continuation command)
_TEXT_SUFFIXES = (".json", ".tcl", ".sh", ".yaml", ".txt", ".cpp", ".h", ".v", ".sv", ".py", ".md")
_MAX_TEXT_BYTES = 50_000_000


def insert_rtl_dwcs(model: ModelWrapper, fpga_part: str) -> ModelWrapper:
    """FINN's InsertDWC with every inserted converter specialized to its RTL variant."""
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.custom_op.registry import getCustomOp

    model = model.transform(InsertDWC())
    for node in model.get_nodes_by_op_type("StreamingDataWidthConverter"):
        getCustomOp(node).set_nodeattr("preferred_impl_style", "rtl")
    return model.transform(SpecializeLayers(fpga_part))


def as_finn_op_types(model: ModelWrapper, aliases: dict[str, str], step) -> ModelWrapper:
    """``step(model)`` with every node whose op type is a key of ``aliases`` presented as the
    value (a FINN ``<op>_hls``/``<op>_rtl`` op type with the same attributes, in its domain),
    restored afterwards by node identity (the step may rename nodes)."""
    renamed = []
    for node in model.graph.node:
        if node.op_type in aliases:
            renamed.append((node.output[0], node.op_type, node.domain))
            node.op_type = aliases[node.op_type]
            node.domain = "finn.custom_op.fpgadataflow." + node.op_type.rsplit("_", 1)[1]
    model = step(model)
    for out, op_type, domain in renamed:
        node = model.find_producer(out)
        alias = node.op_type
        node.op_type, node.domain = op_type, domain
        if node.name.startswith(alias + "_"):
            node.name = op_type + node.name[len(alias) :]
    return model


def relocate(root: Path, old: Path, new: Path) -> None:
    """Rewrite absolute paths ``old`` -> ``new`` in the models and text files under ``root``."""
    import onnx

    old_s, new_s = str(old), str(new)

    def fix_graph(g) -> None:
        for n in g.node:
            for a in n.attribute:
                if a.type == onnx.AttributeProto.STRING and old_s.encode() in a.s:
                    a.s = a.s.replace(old_s.encode(), new_s.encode())
                elif a.type == onnx.AttributeProto.GRAPH:
                    fix_graph(a.g)

    for p in Path(root).rglob("*"):
        if not p.is_file() or p.is_symlink():
            continue
        if p.suffix == ".onnx":
            m = onnx.load(str(p))
            fix_graph(m.graph)
            for prop in m.metadata_props:
                prop.value = prop.value.replace(old_s, new_s)
            onnx.save(m, str(p))
        elif p.suffix in _TEXT_SUFFIXES and p.stat().st_size <= _MAX_TEXT_BYTES:
            try:
                text = p.read_text()
            except UnicodeDecodeError:
                continue
            if old_s in text:
                p.write_text(text.replace(old_s, new_s))


def is_hw_node(node) -> bool:
    """A FINN hardware-layer node (any of the fpgadataflow domains)."""
    return node.domain.startswith("finn.custom_op.fpgadataflow")


def partition_parent(
    hw_model: ModelWrapper, partition: ModelWrapper, tmp_dir: Path
) -> ModelWrapper | None:
    """The whole network around ``partition``: FINN's CreateDataflowPartition on ``hw_model``
    (the model step_create_dataflow_partition was given), its partition node pointed at
    ``partition``.
    None when the partition is the whole network (nothing outside it) or cannot be matched."""
    from finn.transformation.fpgadataflow.create_dataflow_partition import (
        CreateDataflowPartition,
    )
    from qonnx.custom_op.registry import getCustomOp

    if all(is_hw_node(n) for n in hw_model.graph.node):
        return None
    parent = hw_model.transform(CreateDataflowPartition(partition_model_dir=str(tmp_dir / "parts")))
    sdp = parent.get_nodes_by_op_type("StreamingDataflowPartition")
    if len(sdp) != 1:
        return None
    child = Path(tmp_dir) / "partition.onnx"
    partition.save(str(child))
    getCustomOp(sdp[0]).set_nodeattr("model", str(child))
    return parent


def _bipolar_steps(model: ModelWrapper) -> list:
    """MultiThresholds whose output is BIPOLAR as ``2*step - 1`` (out_scale 2, out_bias -1)."""
    from qonnx.core.datatype import DataType  # lazy: qonnx import after prepare_finn
    from qonnx.custom_op.registry import getCustomOp

    found = []
    for node in model.graph.node:
        if node.op_type != "MultiThreshold":
            continue
        if model.get_tensor_datatype(node.output[0]) != DataType["BIPOLAR"]:
            continue
        inst = getCustomOp(node)
        if inst.get_nodeattr("out_scale") == 2.0 and inst.get_nodeattr("out_bias") == -1.0:
            found.append(inst)
    return found


def convert_bipolar_thresholds(
    model: ModelWrapper, convert: Callable[[ModelWrapper], ModelWrapper]
) -> ModelWrapper:
    """``convert(model)`` (FINN's ``step_convert_to_hw`` with standalone thresholds) with every
    bipolar-output MultiThreshold presented as its binary step (``out_scale=1, out_bias=0``):
    FINN's Thresholding with a BIPOLAR output computes ``2*step - 1`` itself, so the layer is
    the same function. A MultiThreshold the conversion left in place gets its bipolar
    attributes back."""
    names = set()
    for inst in _bipolar_steps(model):
        inst.set_nodeattr("out_scale", 1.0)
        inst.set_nodeattr("out_bias", 0.0)
        names.add(inst.onnx_node.name)
    model = convert(model)
    from qonnx.custom_op.registry import getCustomOp  # lazy: qonnx import after prepare_finn

    for node in model.graph.node:
        if node.op_type == "MultiThreshold" and node.name in names:
            inst = getCustomOp(node)
            inst.set_nodeattr("out_scale", 2.0)
            inst.set_nodeattr("out_bias", -1.0)
    return model
