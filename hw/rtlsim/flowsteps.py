"""FINN build steps for an all-RTL dataflow partition (``BuildConfig.impl_style == "rtl"``).

FINN's own steps are reused; these wrappers only change *which* layers end up in hardware:

* :func:`step_convert_to_hw_int_only` runs FINN's ``step_convert_to_hw`` (with
  ``standalone_thresholds=True`` set in the config, so MVAUs carry no activation and can be
  MVAU_rtl) and then turns float-output elementwise layers at the graph tail (the output scale
  of a quantized classifier, ``ElementwiseMul`` with FLOAT32 output) back into plain ONNX ops,
  so the dataflow partition contains only integer layers and the scale runs in software.
* :func:`step_specialize_layers_rtl` asks for the RTL implementation of every layer that has one
  (``preferred_impl_style="rtl"``) before FINN's ``step_specialize_layers``; FINN still falls
  back to HLS where its own constraints forbid RTL (it logs a warning), and :mod:`.levels`
  reports such layers as skipped.
* :func:`step_hw_codegen_with_dwc` inserts the data-width converters before code generation.
"""

from __future__ import annotations

#: elementwise HW ops that are reverted to plain ONNX ops when their output is float
_FLOAT_TAIL_OPS = {"ElementwiseMul": "Mul", "ElementwiseAdd": "Add"}


def revert_float_tail(model):
    """Turn float-output ElementwiseMul/Add nodes with no HW consumer back into ONNX Mul/Add.

    Returns ``(model, changed)`` (qonnx pass style)."""
    from onnx import helper
    from qonnx.custom_op.registry import getCustomOp

    changed = False
    for node in list(model.graph.node)[::-1]:
        if node.op_type not in _FLOAT_TAIL_OPS:
            continue
        inst = getCustomOp(node)
        if inst.get_nodeattr("out_dtype") != "FLOAT32":
            continue
        consumers = model.find_consumers(node.output[0]) or []
        if any(c.domain.startswith("finn.custom_op.fpgadataflow") for c in consumers):
            continue
        new = helper.make_node(
            _FLOAT_TAIL_OPS[node.op_type], list(node.input), list(node.output), name=node.name
        )
        idx = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        model.graph.node.insert(idx, new)
        changed = True
    return model, changed


def step_convert_to_hw_int_only(model, cfg):
    """FINN's step_convert_to_hw, then the float output scale back to software.

    FINN's standalone Thresholding layer only takes thresholds with out_scale 1; a bipolar
    activation after non-binary weights (out_scale 2, bias -1) is refused ("MultiThreshold
    out_scale must be 1 for HLS conversion"). Such a net is still buildable with the thresholds
    inside the MVAU (HLS): fall back to that, for this build only, and say so."""
    import copy

    from finn.builder.build_dataflow_steps import step_convert_to_hw
    from finn.util.exception import FINNUserError

    try:
        converted = step_convert_to_hw(copy.deepcopy(model), cfg)
    except FINNUserError as e:
        if "out_scale must be 1" not in str(e) or not cfg.standalone_thresholds:
            raise
        print(
            f"fewerbits: {e} -> thresholds stay inside the MVAU (HLS) for this build; "
            "the accelerator cannot be all-RTL"
        )
        cfg.standalone_thresholds = False
        converted = step_convert_to_hw(model, cfg)
    model, _ = revert_float_tail(converted)
    return model


def step_specialize_layers_rtl(model, cfg):
    """Prefer the RTL variant of every HW layer, then FINN's step_specialize_layers."""
    from finn.builder.build_dataflow_steps import step_specialize_layers
    from qonnx.custom_op.registry import getCustomOp

    for node in model.graph.node:
        if node.domain == "finn.custom_op.fpgadataflow":
            inst = getCustomOp(node)
            if "preferred_impl_style" in inst.get_nodeattr_types():
                inst.set_nodeattr("preferred_impl_style", "rtl")
    return step_specialize_layers(model, cfg)


def step_hw_codegen_with_dwc(model, cfg):
    """Insert (RTL) data-width converters where neighbouring stream widths differ, then FINN's
    step_hw_codegen, so the code-generated graph can be stitched as it is. FINN itself inserts
    them later, in step_set_fifo_depths (needs Vivado here); its InsertDWC is then a no-op."""
    from finn.builder.build_dataflow_steps import step_hw_codegen
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.custom_op.registry import getCustomOp

    model = model.transform(InsertDWC())
    for node in model.get_nodes_by_op_type("StreamingDataWidthConverter"):
        getCustomOp(node).set_nodeattr("preferred_impl_style", "rtl")
    model = model.transform(SpecializeLayers(cfg._resolve_fpga_part()))
    return step_hw_codegen(model, cfg)


#: step name -> replacement function, used by hw/flow.py when impl_style == "rtl"
RTL_STEP_OVERRIDES = {
    "step_convert_to_hw": step_convert_to_hw_int_only,
    "step_specialize_layers": step_specialize_layers_rtl,
    "step_hw_codegen": step_hw_codegen_with_dwc,
}
