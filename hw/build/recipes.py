"""Topology recipes: graph passes that let FINN's default flow build networks it otherwise
refuses, each a named step in the registry (:mod:`.steps`), applied only where its pattern
occurs, so the user writes no custom steps.

* :func:`step_fewerbits_conv1d_as_2d` -- 1-D convolutions (``Conv1d``, e.g. RadioML-style
  nets): FINN's streamlining expects 4-D tensors and fails (``step_streamline``:
  ``IndexError: list index out of range``). qonnx's ``Change3DTo4DTensors`` rewrites
  ``[N, C, L]`` as ``[N, C, L, 1]`` with the node attributes to match (after
  ``step_qonnx_to_finn``: it accepts MultiThreshold, not Quant nodes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .steps import CONV1D_AS_2D, register_step

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
