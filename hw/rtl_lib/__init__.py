"""fewerbits' RTL layer library: SystemVerilog for layers FINN has only as HLS.

Each layer is a FINN hardware op (``<Op>_rtl``, a subclass of FINN's base op and
``RTLBackend``) plus its synthesizable SystemVerilog under ``hdl/``. :func:`register` adds
the ops to FINN's RTL op table (``finn.custom_op.fpgadataflow.rtl.custom_op``), so that
FINN's ``getCustomOp``, ``SpecializeLayers``, ``PrepareIP`` and estimators handle them like
FINN's own RTL layers; call it after ``prepare_finn()`` in every process that loads such a
model. Where FINN's ``SpecializeLayers`` would not choose them, ``hw/build/impl_style.py``
decides.

* ``MVAUBinary_rtl`` (:mod:`.mvau_binary`): MVAU in binary XNOR-popcount mode;
* ``MaxPool_rtl`` (:mod:`.pool_max`): ``Pool`` with ``Function=MaxPool``;
* ``LabelTopK_rtl`` (:mod:`.label_topk`): ``LabelSelect`` (top-K label indices);
* ``DuplicateStreams_rtl`` (:mod:`.stream_dup`): ``DuplicateStreams`` (a residual fork);
* ``AddStreams_rtl`` (:mod:`.add_streams`): ``ElementwiseAdd`` of two integer streams (the join).
* ``MulConst_rtl`` (:mod:`.mul_const`): ``ElementwiseMul`` of an integer stream by one integer
  constant (a join's branch weight, hw/build/residual_scales.py).
* ``VVAUFabric_rtl`` (:mod:`.vvau_fabric`): ``VVAU`` (depthwise conv) on non-Versal parts,
  and with embedded thresholds on any part;
* ``GlobalSum_rtl`` (:mod:`.pool_acc_global`): ``GlobalAccPool`` (global sum pooling);
* ``AvgPoolTrunc_rtl`` (:mod:`.pool_avg`): ``Pool`` with ``Function=QuantAvgPool``.

The op types deliberately differ from ``<FINN base op>_rtl``: FINN's SpecializeLayers would
otherwise pick them for configurations they do not implement (e.g. ``Pool`` with AvgPool);
:data:`BASE_OP_TYPES` names the FINN base op of each (their Python reference).
"""

from __future__ import annotations

from ..driver.finn_nodes import RTL_LIB_BASE_OPS
from . import (
    add_streams,
    label_topk,
    mul_const,
    mvau_binary,
    pool_acc_global,
    pool_avg,
    pool_max,
    stream_dup,
    vvau_fabric,
)

OPS = (
    mvau_binary,
    pool_max,
    label_topk,
    stream_dup,
    add_streams,
    vvau_fabric,
    pool_acc_global,
    pool_avg,
    mul_const,
)

FPGADATAFLOW_DOMAIN = "finn.custom_op.fpgadataflow"
RTL_DOMAIN = FPGADATAFLOW_DOMAIN + ".rtl"
#: our op type -> the FINN base op whose Python execution is its reference (kept in the
#: standalone driver's one mapping of specialised to base node types)
BASE_OP_TYPES = {op.OP_TYPE: RTL_LIB_BASE_OPS[op.OP_TYPE] for op in OPS}
#: our op type -> the FINN op type whose folding rules (FINN's SetFolding) it follows
FOLDING_AS = {
    mvau_binary.OP_TYPE: "MVAU_rtl",
    pool_max.OP_TYPE: "Pool_hls",
    label_topk.OP_TYPE: "LabelSelect_hls",
    stream_dup.OP_TYPE: "DuplicateStreams_hls",
    add_streams.OP_TYPE: "ElementwiseAdd_hls",
    vvau_fabric.OP_TYPE: "VVAU_hls",
    pool_acc_global.OP_TYPE: "GlobalAccPool_hls",
    pool_avg.OP_TYPE: "Pool_hls",
    mul_const.OP_TYPE: "ElementwiseMul_hls",
}


def register() -> None:
    """Add this library's ops to FINN's RTL op table (idempotent)."""
    from finn.custom_op.fpgadataflow.rtl import custom_op, register_custom_op  # lazy: FINN

    for op in OPS:
        if op.OP_TYPE not in custom_op:
            register_custom_op(op.op_class())


def rtl_lib_op(node, fpgapart: str | None = None) -> str | None:
    """The op of this library that implements a base FINN hardware node (built for
    ``fpgapart`` when given), or None."""
    from qonnx.custom_op.registry import getCustomOp  # lazy: qonnx import

    if node.domain != FPGADATAFLOW_DOMAIN:
        return None
    if node.op_type == "MVAU" and getCustomOp(node).get_nodeattr("binaryXnorMode") == 1:
        return mvau_binary.OP_TYPE
    if node.op_type == "Pool" and getCustomOp(node).get_nodeattr("Function") == "MaxPool":
        return pool_max.OP_TYPE
    if node.op_type == "LabelSelect":
        return label_topk.OP_TYPE
    if node.op_type == "DuplicateStreams":
        return stream_dup.OP_TYPE
    if node.op_type == "ElementwiseAdd" and add_streams.implements(getCustomOp(node)):
        return add_streams.OP_TYPE
    if node.op_type == "ElementwiseMul" and mul_const.implements(getCustomOp(node)):
        return mul_const.OP_TYPE
    if node.op_type == "VVAU" and vvau_fabric.routes_here(getCustomOp(node), fpgapart):
        return vvau_fabric.OP_TYPE
    if node.op_type == "GlobalAccPool" and pool_acc_global.supports(
        getCustomOp(node).get_input_datatype()
    ):
        return pool_acc_global.OP_TYPE
    if (
        node.op_type == "Pool"
        and getCustomOp(node).get_nodeattr("Function") == "QuantAvgPool"
        and pool_avg.supports(getCustomOp(node).get_input_datatype())
    ):
        return pool_avg.OP_TYPE
    return None


def specialize(model, node, fpgapart: str | None = None):
    """Replace a base FINN node by ``rtl_lib_op(node, fpgapart)`` (as FINN's SpecializeLayers replaces a
    node by its ``_rtl`` variant: same inputs, outputs and attributes, no style preference)."""
    from onnx import helper  # lazy: onnx import

    new = helper.make_node(
        rtl_lib_op(node, fpgapart), node.input, node.output, name=node.name, domain=RTL_DOMAIN
    )
    new.attribute.extend(a for a in node.attribute if a.name != "preferred_impl_style")
    idx = list(model.graph.node).index(node)
    model.graph.node.remove(node)
    model.graph.node.insert(idx, new)
    return model.graph.node[idx]  # the inserted copy (protobuf copies on insert)
