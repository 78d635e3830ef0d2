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
* :func:`step_fewerbits_trunc_avg_pool` -- Brevitas' truncating average pooling
  (``TruncAvgPool2d``, ``TruncAdaptiveAvgPool2d``; QONNX ``AveragePool``/``GlobalAveragePool``
  -> ``Trunc``). FINN turns ``AveragePool -> Trunc`` into its ``QuantAvgPool2d`` (a sum and a
  right shift, i.e. FLOOR) and refuses other rounding modes; after a ``GlobalAveragePool`` it
  cannot build a ``Trunc`` at all. Global: the ``Trunc`` (its input is an integer sum ``S`` on
  the grid of its ``scale``) is replaced by the activation quantizer computing the same
  ``round_mode(clip(S / 2**s)) * out_scale`` -- ``Quant`` with ``out_scale`` and ``ROUND``, and
  for ``FLOOR`` an input shift by ``(2**-(s+1) - 1/2) * out_scale``, which never lands on a
  half step -- so the usual exact threshold path builds it. Non-global ``FLOOR`` is left to
  FINN's ``QuantAvgPool2d`` (exact: a truncating shift); non-global ``ROUND`` is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fewerbits.compat.finn.thresholds import set_float_type

from .steps import CONV1D_AS_2D, GLOBAL_ACC_POOL, TRUNC_AVG_POOL, BuildError, register_step

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


def _trunc_mode(node) -> str:
    from qonnx.util.basic import get_by_name

    a = get_by_name(node.attribute, "rounding_mode")
    return (a.s.decode() if a is not None else "FLOOR").upper()


@register_step(TRUNC_AVG_POOL)
def step_fewerbits_trunc_avg_pool(model: ModelWrapper, cfg) -> ModelWrapper:
    """Truncating average pooling exact or refused (see the module docstring)."""
    from onnx import helper
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.util.basic import get_by_name

    changed = False
    for trunc in model.get_nodes_by_op_type("Trunc"):
        pool = model.find_producer(trunc.input[0])
        if pool is None or pool.op_type not in ("AveragePool", "GlobalAveragePool"):
            continue
        mode = _trunc_mode(trunc)
        where = f"average pooling {pool.name} (its Trunc {trunc.name}, rounding_mode {mode})"
        if pool.op_type == "AveragePool":
            if mode != "FLOOR":
                raise BuildError(
                    f"{where}: FINN builds a windowed average pooling only as a truncating "
                    "sum (FLOOR); use TruncAvgPool2d(..., float_to_int_impl_type='FLOOR') or "
                    "global average pooling (exact in every rounding mode)"
                )
            continue  # FINN's AvgPoolAndTruncToQuantAvgPool (QuantAvgPool2d)
        if mode not in ("ROUND", "HALF_EVEN", "FLOOR"):
            raise BuildError(f"{where}: only ROUND and FLOOR are built; use one of those")
        x, scale, zp, _, out_scale, out_bits = trunc.input
        vals = [model.get_initializer(t) for t in (scale, zp, out_scale, out_bits)]
        if any(v is None or np.asarray(v).size != 1 for v in vals):
            raise BuildError(f"{where}: needs scalar constant scale, zero point and bit width")
        scale_v, zp_v, out_v, bits_v = (np.float32(np.asarray(v).item()) for v in vals)
        shift = int(np.round(np.log2(out_v / scale_v)))
        if zp_v != 0 or np.float32(scale_v * np.float32(2.0**shift)) != out_v or shift < 0:
            raise BuildError(
                f"{where}: expected zero point 0 and output scale = scale * 2**shift "
                f"(got zero point {zp_v}, scales {scale_v}, {out_v})"
            )
        base = trunc.name + "_as_quant"
        quant_in = x
        if mode == "FLOOR":  # floor(y) = round(y - 1/2 + 2**-(s+1)) on the grid y in Z/2**s
            model.set_initializer(base + "_shift", np.float32((2.0 ** -(shift + 1) - 0.5) * out_v))
            quant_in = base + "_in"
            add = helper.make_node("Add", [x, base + "_shift"], [quant_in], name=base + "_floor")
            model.graph.node.insert(list(model.graph.node).index(trunc), add)
        model.set_initializer(base + "_scale", np.float32(out_v))
        model.set_initializer(base + "_zp", np.float32(0.0))
        model.set_initializer(base + "_bits", np.float32(bits_v))
        quant = helper.make_node(
            "Quant",
            [quant_in, base + "_scale", base + "_zp", base + "_bits"],
            list(trunc.output),
            name=trunc.name,
            domain="qonnx.custom_op.general",
            signed=int(get_by_name(trunc.attribute, "signed").i),
            narrow=int(get_by_name(trunc.attribute, "narrow").i),
            rounding_mode="ROUND",
        )
        idx = list(model.graph.node).index(trunc)
        model.graph.node.remove(trunc)
        model.graph.node.insert(idx, quant)
        changed = True
    return model.transform(InferShapes()) if changed else model
