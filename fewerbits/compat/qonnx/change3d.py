"""Workaround for qonnx 1.0.0's Change3DTo4DTensors on a 1-D pooling node's ``dilations``.

Symptom (qonnx 1.0.0, with torch's export of ``nn.MaxPool1d`` through Brevitas 0.13.4, which
writes ``dilations=[1]``): ``Change3DTo4DTensors`` extends a MaxPool's ``kernel_shape``,
``pads`` and ``strides`` to two spatial axes but not its ``dilations`` (it does for a Conv), so
onnxruntime refuses the 4-D pool: "[ShapeInferenceError] Attribute dilations has incorrect
size" (a RadioML-style VGG10's finn_onnx and streamlined levels could not execute). We append
a dilation of 1 for every spatial axis the transformation added.

Second symptom (same version): ``Change3DTo4DTensors`` changes shapes only, not the layout
annotations. qonnx's ``InferDataLayouts`` guesses an unannotated 3-D graph input to be ``NWC``
(``step_qonnx_to_finn``: "Assuming 3D input is NWC"), where a Conv1d's ``[N, C, L]`` is ``NCW``,
and a per-tensor input quantizer's MultiThreshold inherits ``data_layout="NWC"``; after the
transformation the tensor is ``[N, C, L, 1]`` but still annotated ``NWC``, so FINN's
``InferThresholdingLayer`` (which wraps only an ``NCHW`` MultiThreshold in transposes) keeps it
channels-first and the layout Transpose to the first conv's NHWC Im2Col is left behind it,
inside the dataflow partition: an HLS-only ``Shuffle`` (a RadioML-style VGG10 could not be
simulated as one RTL design). ``Change3DTo4DTensors`` itself treats every 3-D tensor as
``[N, C, L]`` (it appends the new axis), so we annotate each tensor it made 4-D as ``NCHW``,
and each MultiThreshold with a 3-D ``data_layout`` ``NCHW`` where that cannot change its
result (``NCW``, or per-tensor thresholds); then ``InferDataLayouts`` propagates them, and
FINN moves the input transpose in front of the thresholding (to the host), as for 2-D nets.
Test: tests/test_compat_qonnx_change3d.py.
"""

from __future__ import annotations

import qonnx.core.data_layout as DataLayout
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.change_3d_tensors_to_4d import Change3DTo4DTensors
from qonnx.transformation.infer_data_layouts import InferDataLayouts
from qonnx.util.basic import get_by_name

POOLS = ("MaxPool", "AveragePool")


def _tensor_names(model: ModelWrapper) -> list[str]:
    g = model.graph
    return [t.name for t in (*g.input, *g.output, *g.value_info)]


def fix_4d_layouts(model: ModelWrapper) -> ModelWrapper:
    """Layout annotations of the tensors ``Change3DTo4DTensors`` made ``[N, C, L, 1]``: ``NCHW``,
    as the transformation assumes; MultiThreshold ``data_layout`` to match (see module doc)."""
    for name in _tensor_names(model):
        layout = model.get_tensor_layout(name)
        shape = model.get_tensor_shape(name)
        if layout is not None and len(layout) == 3 and shape is not None and len(shape) == 4:
            model.set_tensor_layout(name, DataLayout.NCHW)
    for node in model.graph.node:
        if node.op_type != "MultiThreshold":
            continue
        shape = model.get_tensor_shape(node.input[0]) or []
        inst = getCustomOp(node)
        layout = inst.get_nodeattr("data_layout")
        thresholds = model.get_initializer(node.input[1])
        per_tensor = thresholds is not None and thresholds.shape[0] == 1
        if len(shape) == 4 and (layout == "NCW" or (layout == "NWC" and per_tensor)):
            inst.set_nodeattr("data_layout", "NCHW")
    return model.transform(InferDataLayouts())


class Change3DTo4DTensorsWithPoolDilations(Transformation):
    """qonnx's ``Change3DTo4DTensors``, then each pool's ``dilations`` as long as its kernel and
    the 4-D tensors' layout annotations ``NCHW``."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        model = model.transform(Change3DTo4DTensors())
        model = fix_4d_layouts(model)
        for node in model.graph.node:
            if node.op_type not in POOLS:
                continue
            dil = get_by_name(node.attribute, "dilations")
            kernel = get_by_name(node.attribute, "kernel_shape")
            if dil is not None and kernel is not None and len(dil.ints) < len(kernel.ints):
                dil.ints.extend([1] * (len(kernel.ints) - len(dil.ints)))
        return model, False
