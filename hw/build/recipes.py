"""Topology recipes: graph passes that let FINN's default flow build networks it otherwise
refuses, each a named step in the registry (:mod:`.steps`), applied only where its pattern
occurs, so the user writes no custom steps.

* :func:`step_fewerbits_conv1d_as_2d` -- 1-D convolutions (``Conv1d``, e.g. RadioML-style
  nets): FINN's streamlining expects 4-D tensors and fails (``step_streamline``:
  ``IndexError: list index out of range``). qonnx's ``Change3DTo4DTensors`` rewrites
  ``[N, C, L]`` as ``[N, C, L, 1]`` with the node attributes to match (after
  ``step_qonnx_to_finn``: it accepts MultiThreshold, not Quant nodes).
* :func:`step_fewerbits_depthwise_scales` -- a per-channel scale ``Mul`` in front of a
  depthwise conv (an activation quantizer with one scale per channel, as in Brevitas'
  MobileNet-v1): FINN's streamlining moves scalar scales past convolutions but not
  per-channel ones, the conv's input stays float and conversion fails ("Im2Col ... float
  input"). A depthwise conv (``group`` = channels) computes each output channel from its own
  input channel only, so ``conv_dw(x * s) = conv_dw(x) * s`` for a per-channel ``s``
  (zero padding included: ``0 * s = 0``); FINN's ``MoveMulPastDWConv`` makes that swap and the
  next streamlining absorbs the scale into the following thresholds. Runs before
  ``step_streamline``, which then lowers the conv to an integer VVAU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .steps import CONV1D_AS_2D, DEPTHWISE_SCALES, BuildError, register_step

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


def channel_scales_before_depthwise(model: ModelWrapper) -> list[str]:
    """Names of the depthwise Convs whose input is a per-channel constant ``Mul``."""
    from qonnx.util.basic import get_by_name  # lazy: qonnx import

    out = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        group = get_by_name(node.attribute, "group")
        channels = (model.get_tensor_shape(node.input[0]) or [0, 0])[1]
        if group is None or group.i == 1 or group.i != channels:
            continue
        mul = model.find_producer(node.input[0])
        if mul is None or mul.op_type != "Mul":
            continue
        scale = model.get_initializer(mul.input[1])
        if scale is not None and scale.size > 1:
            out.append(node.name)
    return out


@register_step(DEPTHWISE_SCALES)
def step_fewerbits_depthwise_scales(model: ModelWrapper, cfg) -> ModelWrapper:
    """Per-channel scales moved past the depthwise convs they feed (FINN's
    ``MoveMulPastDWConv``) and absorbed downstream by streamlining; a model where streamlining
    leaves no such scale is returned unchanged."""
    from finn.transformation.streamline import Streamline  # lazy: FINN import
    from finn.transformation.streamline.reorder import MoveMulPastDWConv

    streamlined = model.transform(Streamline())
    if not channel_scales_before_depthwise(streamlined):
        return model
    for _ in range(len(streamlined.graph.node)):  # each round moves at least one Mul
        streamlined = streamlined.transform(MoveMulPastDWConv()).transform(Streamline())
        if not channel_scales_before_depthwise(streamlined):
            return streamlined
    left = ", ".join(channel_scales_before_depthwise(streamlined))
    raise BuildError(f"{DEPTHWISE_SCALES}: per-channel scales stay in front of {left}")
