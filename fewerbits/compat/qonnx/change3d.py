"""Workaround for qonnx 1.0.0's Change3DTo4DTensors on a 1-D pooling node's ``dilations``.

Symptom (qonnx 1.0.0, with torch's export of ``nn.MaxPool1d`` through Brevitas 0.13.4, which
writes ``dilations=[1]``): ``Change3DTo4DTensors`` extends a MaxPool's ``kernel_shape``,
``pads`` and ``strides`` to two spatial axes but not its ``dilations`` (it does for a Conv), so
onnxruntime refuses the 4-D pool: "[ShapeInferenceError] Attribute dilations has incorrect
size" (a RadioML-style VGG10's finn_onnx and streamlined levels could not execute). We append
a dilation of 1 for every spatial axis the transformation added.
Test: tests/test_compat_qonnx_change3d.py.
"""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.change_3d_tensors_to_4d import Change3DTo4DTensors
from qonnx.util.basic import get_by_name

POOLS = ("MaxPool", "AveragePool")


class Change3DTo4DTensorsWithPoolDilations(Transformation):
    """qonnx's ``Change3DTo4DTensors``, then each pool's ``dilations`` as long as its kernel."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        model = model.transform(Change3DTo4DTensors())
        for node in model.graph.node:
            if node.op_type not in POOLS:
                continue
            dil = get_by_name(node.attribute, "dilations")
            kernel = get_by_name(node.attribute, "kernel_shape")
            if dil is not None and kernel is not None and len(dil.ints) < len(kernel.ints):
                dil.ints.extend([1] * (len(kernel.ints) - len(dil.ints)))
        return model, False
