"""Topology recipes: graph passes that let FINN's default flow build networks it otherwise
refuses, each a named step in the registry (:mod:`.steps`), applied only where its pattern
occurs, so the user writes no custom steps.

* :func:`step_fewerbits_conv1d_as_2d` -- 1-D convolutions (``Conv1d``, e.g. RadioML-style
  nets): FINN's streamlining expects 4-D tensors and fails (``step_streamline``:
  ``IndexError: list index out of range``). qonnx's ``Change3DTo4DTensors`` rewrites
  ``[N, C, L]`` as ``[N, C, L, 1]`` with the node attributes to match (after
  ``step_qonnx_to_finn``: it accepts MultiThreshold, not Quant nodes).
* :func:`step_fewerbits_global_acc_pool` -- global average pooling (``nn.AdaptiveAvgPool2d(1)``,
  ``TruncAdaptiveAvgPool2d``): FINN converts a ``GlobalAveragePool`` only at
  ``step_convert_to_hw``, into ``GlobalAccPool`` (the integer sum) and a scalar ``Mul`` by
  ``1/N`` that nothing absorbs any more (``FINN cannot convert node Mul_0``). The recipe makes
  the same conversion right after ``step_streamline`` (FINN's ``InferGlobalAccPoolLayer``) and
  streamlines again, so the ``1/N`` moves into the next thresholds (or past the next MatMul
  into the float tail). ``1/N`` is set in float64 (the parameters are float64 until
  ``step_fewerbits_fix_thresholds``): a threshold ``T`` on the mean becomes ``N*T`` on the sum,
  exact to 1e-16, where float32 ``1/49`` alone would be off by 3e-8 relative.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .steps import CONV1D_AS_2D, GLOBAL_ACC_POOL, BuildError, register_step

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper


def has_3d_tensors(model: ModelWrapper) -> bool:
    """True when the graph input or a Conv/MaxPool works on [N, C, L] tensors."""
    shape = model.get_tensor_shape(model.graph.input[0].name) or []
    if len(shape) == 3:
        return True
    for node in model.graph.node:
        if node.op_type in ("Conv", "MaxPool", "AveragePool"):
            if len(model.get_tensor_shape(node.input[0]) or []) == 3:
                return True
    return False


@register_step(CONV1D_AS_2D)
def step_fewerbits_conv1d_as_2d(model: ModelWrapper, cfg) -> ModelWrapper:
    """[N, C, L] tensors as [N, C, L, 1] (qonnx Change3DTo4DTensors) where a 1-D conv occurs."""
    from qonnx.transformation.change_3d_tensors_to_4d import Change3DTo4DTensors  # lazy: qonnx

    if not has_3d_tensors(model):
        return model
    return model.transform(Change3DTo4DTensors())


@register_step(GLOBAL_ACC_POOL)
def step_fewerbits_global_acc_pool(model: ModelWrapper, cfg) -> ModelWrapper:
    """GlobalAveragePool on an integer tensor -> FINN's GlobalAccPool, with its exact ``1/N``
    streamlined into what follows (see the module docstring)."""
    import numpy as np  # lazy: with FINN below
    from finn.transformation.fpgadataflow.convert_to_hw.global_acc_pool import (
        InferGlobalAccPoolLayer,
    )
    from finn.transformation.streamline import Streamline
    from finn.transformation.streamline.absorb import (
        AbsorbConsecutiveTransposes,
        AbsorbTransposeIntoFlatten,
    )
    from onnx import TensorProto
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.transformation.infer_datatypes import InferDataTypes

    from fewerbits.compat.finn.thresholds import set_float_type

    gaps = model.get_nodes_by_op_type("GlobalAveragePool")
    if not gaps:
        return model
    for gap in gaps:
        if not model.get_tensor_datatype(gap.input[0]).is_integer():
            raise BuildError(
                f"global average pooling {gap.name}: its input {gap.input[0]} is not an "
                "integer tensor after streamlining; put a quantized activation (e.g. "
                "QuantReLU) right before the pooling"
            )
    float64 = any(i.data_type == TensorProto.DOUBLE for i in model.graph.initializer)
    model = model.transform(InferGlobalAccPoolLayer())
    for pool in model.get_nodes_by_op_type("GlobalAccPool"):
        vecs = getCustomOp(pool).get_nodeattr("numInputVectors")
        n = int(np.prod(vecs[1:]))
        node = model.find_consumer(pool.output[0])
        while node is not None and node.op_type == "Transpose":
            node = model.find_consumer(node.output[0])
        if node is None or node.op_type != "Mul":
            raise BuildError(f"{pool.name}: expected FINN's scalar Mul by 1/{n} after it")
        dtype = np.float64 if float64 else np.float32
        model.set_initializer(node.input[1], np.array(1.0 / n, dtype=dtype))
    if float64:
        model = set_float_type(model, np.float64)
    for t in (
        Streamline(),
        AbsorbConsecutiveTransposes(),
        AbsorbTransposeIntoFlatten(),
        GiveUniqueNodeNames(),
        InferDataTypes(),
    ):
        model = model.transform(t)
    return model
