"""Topology recipes: graph passes that let FINN's default flow build networks it otherwise
refuses, each a named step in the registry (:mod:`.steps`), applied only where its pattern
occurs, so the user writes no custom steps.

* :func:`step_fewerbits_conv1d_as_2d` -- 1-D convolutions (``Conv1d``, e.g. RadioML-style
  nets): FINN's streamlining expects 4-D tensors and fails (``step_streamline``:
  ``IndexError: list index out of range``). qonnx's ``Change3DTo4DTensors`` rewrites
  ``[N, C, L]`` as ``[N, C, L, 1]`` with the node attributes to match (after
  ``step_qonnx_to_finn``: it accepts MultiThreshold, not Quant nodes); our compat wrapper
  also annotates those tensors ``NCHW``, so the input quantizer's layout transpose goes to the
  host and every layer can be RTL (no HLS ``Shuffle``).
* :func:`step_fewerbits_residual_check` / :func:`step_fewerbits_residual` -- residual forks
  (ResNet blocks): FINN's streamlining leaves the shared scale in front of the fork and the
  join ``Add`` in float (``step_convert_to_hw``: "float input ... Im2Col"). Where both branches
  are integers of one scale (a quantizer shared by both, Brevitas' idiom), FINN's own fork/join
  passes move the scale and the layout transposes through, so the add runs on integers and the
  fork becomes a DuplicateStreams layer. Two different scalar scales whose sum goes into an
  activation quantizer (directly, or through per-channel affine ops such as a BatchNorm, which
  FINN's streamlining absorbs into the thresholds, and a ReLU) are built as an exact integer
  weighted sum (:mod:`.residual_scales`, ``step_fewerbits_residual_scales``, against that
  quantizer's exact boundaries recorded here, :func:`post_add_quantizer`); any other residual
  add (the sum forks, pools or is the output first) is refused before conversion, in one line
  naming it and the user's quantizers.
* :func:`step_fewerbits_depthwise_scales` -- a per-channel scale ``Mul`` in front of a
  depthwise conv (an activation quantizer with one scale per channel, as in Brevitas'
  MobileNet-v1): FINN's streamlining moves scalar scales past convolutions but not
  per-channel ones, the conv's input stays float and conversion fails ("Im2Col ... float
  input"). A depthwise conv (``group`` = channels) computes each output channel from its own
  input channel only, so ``conv_dw(x * s) = conv_dw(x) * s`` for a per-channel ``s``
  (zero padding included: ``0 * s = 0``); FINN's ``MoveMulPastDWConv`` makes that swap and the
  next streamlining absorbs the scale into the following thresholds. Runs before
  ``step_streamline``, which then lowers the conv to an integer VVAU.
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
  half step -- so the usual exact threshold path builds it. For ``ROUND`` the thresholds on
  the GlobalAccPool sum are set to their exact ``(m + 1/2) * 2**s`` after streamlining (FINN
  computes ``(m + 1/2) * out_scale`` in float32: ~6e-8 relative off, above the threshold
  fix's tie tolerance, which rounded 75 of 255 even-level ties up). Non-global ``FLOOR`` is
  left to FINN's ``QuantAvgPool2d`` (exact: a truncating shift). Non-global ``ROUND`` (Brevitas'
  default ``RoundTo8bit``: ``torch.round``, half to even, after ``S / 2**s`` with ``2**s`` =
  ``2**(in_bits - out_bits)``, then clipped to the output bits; output scale ``scale * 2**s``)
  is a window sum followed by that quantizer on the integer ``S``: ``Mul(1/scale)`` in front
  of the pool makes its mean the integer sum, the ``Trunc`` becomes a shift-0 ``FLOOR`` one
  (FINN's ``QuantAvgPool2d`` sum, this library's ``AvgPoolTrunc_rtl``), then ``Quant(S,
  2**s, ROUND)`` and ``Mul(scale)``. The quantizer's thresholds ``(m + 1/2) * 2**s`` are
  exact in float32, so the threshold fix sees the ties exactly and puts level ``m + 1`` at
  ``(m + 1/2) * 2**s`` when ``m + 1`` is even, one above when odd (a Quant on the float
  mean would carry float32 threshold errors of ~6e-8 relative, far above the tie tolerance,
  and round even-level ties up). Refused, in one line: other rounding modes, padding or a
  non-square kernel (FINN's QuantAvgPool2d has neither), a Trunc whose declared input bits
  are not the window sum's (FINN would shift the sum).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from fewerbits.compat.finn.thresholds import _is_act_quant, _records, set_float_type
from fewerbits.compat.qonnx.change3d import Change3DTo4DTensorsWithPoolDilations
from fewerbits.core.quant_tags import BUILT, node_tag, set_tag

from .steps import (
    CONV1D_AS_2D,
    DEPTHWISE_SCALES,
    GLOBAL_ACC_POOL,
    RESIDUAL,
    RESIDUAL_CHECK,
    TRUNC_AVG_POOL,
    BuildError,
    register_step,
)

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
    if not has_3d_tensors(model):
        return model
    return model.transform(Change3DTo4DTensorsWithPoolDilations())


# ---- residual networks -------------------------------------------------------------------------

#: ops a residual branch may pass through between its quantizer and the add (layout only)
_LAYOUT_OPS = ("Transpose", "Reshape", "Flatten", "MaxPool", "MaxPoolNHWC", "Identity")
#: the model metadata key the export writes (QONNX quantizer name -> the user's module path)
_LAYER_NAMES_KEY = "fewerbits.layer_names"
#: model metadata key: the residual adds of two different branch scales (JSON list of names)
TWO_SCALE_JOINS_KEY = "fewerbits.two_scale_joins"
#: model metadata key: the quantizer after each two-scale join and the affine ops in between,
#: by the quantizer's name (its tag, hw/build/quant_tags.py): :func:`post_add_quantizer`
POST_ADD_QUANTS_KEY = "fewerbits.post_add_quantizers"


def residual_joins(model: ModelWrapper) -> list:
    """Add nodes whose two inputs are both computed (no constant): the joins of residual forks."""
    return [
        n
        for n in model.graph.node
        if n.op_type == "Add"
        and len(n.input) == 2
        and all(model.get_initializer(t) is None for t in n.input)
    ]


def _user_name(model: ModelWrapper, node) -> str:
    """``Quant_5 (layer1.0.relu2)``: the node and, when the export recorded it, the user's module."""
    raw = model.get_metadata_prop(_LAYER_NAMES_KEY)
    layer = (json.loads(raw) if raw else {}).get(node.name)
    return f"{node.name} ({layer})" if layer else node.name


def _branch_quant(model: ModelWrapper, tensor: str):
    """The activation quantizer that produced ``tensor`` through layout ops only, or None."""
    node = model.find_producer(tensor)
    while node is not None and node.op_type in _LAYOUT_OPS:
        node = model.find_producer(node.input[0])
    return node if node is not None and node.op_type == "Quant" else None


def residual_scale_problem(model: ModelWrapper, add) -> str | None:
    """Why the QONNX residual ``add`` cannot be built exactly, or None.

    Exact needs both branches to be integers of one scale: each input an activation
    quantizer's output (through layout ops only) with zero point 0, and the two quantizers'
    scales equal as float32 numbers (Brevitas: one quantizer shared by both branches, e.g. the
    QuantReLU before the block reused on the residual path, as bnn_pynq's ResNet does). Then
    ``s*a + s*b = s*(a + b)`` holds exactly and the add runs on the integers."""
    quants = [_branch_quant(model, t) for t in add.input]
    for t, q in zip(add.input, quants, strict=True):
        if q is None:
            src = model.find_producer(t)
            return (
                f"residual add {add.name}: input {t} (from {src.name if src else 'the graph input'}) "
                "is not the output of an activation quantizer; quantize both branches, e.g. with "
                "one QuantIdentity/QuantReLU(return_quant_tensor=True) shared by both"
            )
    scales, zeros = [], []
    for q in quants:
        s, z = (model.get_initializer(q.input[i]) for i in (1, 2))
        if s is None or z is None:
            return f"residual add {add.name}: quantizer {_user_name(model, q)} has a computed scale"
        scales.append(np.asarray(s, dtype=np.float32))
        zeros.append(np.asarray(z))
    if any(np.any(z != 0) for z in zeros):
        return f"residual add {add.name}: a branch quantizer has a non-zero zero point"
    a, b = scales
    if a.size != 1 or b.size != 1:
        if not (a.shape == b.shape and np.array_equal(a, b)):
            return (
                f"residual add {add.name}: per-channel branch scales of "
                f"{_user_name(model, quants[0])} and {_user_name(model, quants[1])} differ"
            )
        return None
    if a.item() != b.item():
        # built exactly as an integer weighted sum when the sum is quantized right after the
        # add (hw/build/residual_scales.py, proved after streamlining); anything else refused
        after = _sum_consumer(model, add)
        if after is not None and _is_act_quant(model, after):
            return None
        got = f"{after.name} ({after.op_type})" if after is not None else "more than one node"
        return (
            f"residual add {add.name}: branches {_user_name(model, quants[0])} (scale "
            f"{a.item():.6g}) and {_user_name(model, quants[1])} (scale {b.item():.6g}) have "
            f"different scales and the sum goes to {got}, not into an activation quantizer "
            "(directly or through a BatchNorm and a ReLU), so it is not an integer of one scale; "
            "quantize the sum right after the add (QuantReLU/QuantIdentity) or make both "
            "branches one QuantIdentity/QuantReLU"
            "(return_quant_tensor=True) object, as Brevitas' bnn_pynq ResNet does"
        )
    return None


#: per-channel affine ops between a residual add and its quantizer that FINN's streamlining
#: absorbs into the quantizer's thresholds (a BatchNorm after the add; a Mul/Add by a constant)
_AFFINE_OPS = ("BatchNormalization", "Mul", "Add")


def _is_channel_affine(model: ModelWrapper, node) -> bool:
    """A BatchNormalization, or a Mul/Add by a constant of one value per tensor or per channel
    (axis 1), whose only computed input is the first."""
    if node.op_type not in _AFFINE_OPS or model.get_initializer(node.input[0]) is not None:
        return False
    if node.op_type == "BatchNormalization":
        return all(model.get_initializer(t) is not None for t in node.input[1:5])
    c = model.get_initializer(node.input[1])
    if c is None:
        return False
    shape = np.shape(c)
    return np.size(c) == 1 or (
        len(shape) >= 2 and all(d == 1 for i, d in enumerate(shape) if i != 1)
    )


def post_add_chain(model: ModelWrapper, add) -> tuple[list, object | None]:
    """The nodes from the add's sum to the one node it ends in: per-channel affine ops
    (:func:`_is_channel_affine`, e.g. a BatchNorm) and a Relu, each the only user of the
    previous tensor; ``(chain, end)`` with ``end`` None when the sum (or a tensor of the chain)
    forks or is the graph output."""
    chain, tensor = [], add.output[0]
    outputs = {o.name for o in model.graph.output}
    while True:
        users = model.find_consumers(tensor) or []
        if len(users) != 1 or tensor in outputs:
            return chain, None
        node = users[0]
        if node.op_type != "Relu" and not _is_channel_affine(model, node):
            return chain, node
        chain.append(node)
        tensor = node.output[0]


def _sum_consumer(model: ModelWrapper, add):
    """The one node the add's sum goes to, past per-channel affine ops and a Relu (None: the
    sum forks or is the output)."""
    return post_add_chain(model, add)[1]


def _floats(model: ModelWrapper, tensor: str) -> list[float]:
    return [float(v) for v in np.ravel(model.get_initializer(tensor))]


def post_add_quantizer(model: ModelWrapper, add) -> dict | None:
    """The exact parameters of the activation quantizer a two-scale residual sum goes into, and
    of the per-channel affine ops in between, as JSON-ready numbers (float32 values are exact
    in float64/JSON): ``{"quant", "scale", "zero_point", "bits", "signed", "narrow",
    "rounding_mode", "chain"}``; ``chain`` lists ``{"op": "bn", "gamma", "beta", "mean",
    "var", "eps"}`` / ``{"op": "mul" | "add", "c"}`` / ``{"op": "relu"}`` in graph order. None
    if the sum does not end in a ``Quant`` (hw/build/residual_scales.py then says why)."""
    from qonnx.util.basic import get_by_name  # lazy: qonnx import

    chain, quant = post_add_chain(model, add)
    if quant is None or quant.op_type != "Quant" or not _is_act_quant(model, quant):
        return None
    ops = []
    for n in chain:
        if n.op_type == "Relu":
            ops.append({"op": "relu"})
        elif n.op_type == "BatchNormalization":
            eps = get_by_name(n.attribute, "epsilon")
            g, b, m, v = (_floats(model, t) for t in n.input[1:5])
            ops.append(
                {"op": "bn", "gamma": g, "beta": b, "mean": m, "var": v,
                 "eps": float(np.float32(eps.f if eps is not None else 1e-5))}
            )  # fmt: skip
        else:
            ops.append({"op": n.op_type.lower(), "c": _floats(model, n.input[1])})

    def attr(name: str, default: int | str):
        a = get_by_name(quant.attribute, name)
        return default if a is None else (a.s.decode() if a.type == a.STRING else a.i)

    return {
        "quant": quant.name,
        "scale": _floats(model, quant.input[1]),
        "zero_point": _floats(model, quant.input[2]),
        "bits": int(np.asarray(model.get_initializer(quant.input[3])).item()),
        "signed": int(attr("signed", 1)),
        "narrow": int(attr("narrow", 0)),
        "rounding_mode": str(attr("rounding_mode", "ROUND")).upper(),
        "chain": ops,
    }


@register_step(RESIDUAL_CHECK)
def step_fewerbits_residual_check(model: ModelWrapper, cfg) -> ModelWrapper:
    """Refuse (one line naming the add and the user's quantizers) a residual add that cannot
    be built exactly (:func:`residual_scale_problem`); a model without joins passes as is.
    The joins of two different scales are recorded (:data:`TWO_SCALE_JOINS_KEY`) for
    ``step_fewerbits_residual_scales``."""
    joins = residual_joins(model)
    two_scales, quants = [], {}
    for add in joins:
        problem = residual_scale_problem(model, add)
        if problem is not None:
            raise BuildError(problem)
        scales = [model.get_initializer(_branch_quant(model, t).input[1]) for t in add.input]
        if not np.array_equal(*(np.asarray(s, np.float32) for s in scales)):
            two_scales.append(add.name)
            rec = post_add_quantizer(model, add)
            if rec is not None:
                quants[rec["quant"]] = rec
    if joins:
        model.set_metadata_prop(TWO_SCALE_JOINS_KEY, json.dumps(two_scales))
        model.set_metadata_prop(POST_ADD_QUANTS_KEY, json.dumps(quants))
    return model


def _residual_passes() -> list:
    """FINN's streamlining passes that take a scalar scale and the layout transposes out of a
    residual fork and through its join, in the order one round applies them."""
    from finn.transformation.streamline import Streamline  # lazy: FINN import
    from finn.transformation.streamline import absorb as A
    from finn.transformation.streamline import reorder as R

    return [
        R.MoveScalarLinearPastFork(),  # the shared scale duplicated into both branches
        R.MoveTransposePastFork(),
        R.MoveLinearPastEltwiseAdd(),  # s*a + s*b -> s*(a + b) (equal scales only)
        R.MoveTransposePastJoinAdd(),
        A.AbsorbConsecutiveTransposes(),
        A.AbsorbTransposeIntoMultiThreshold(),
        R.MakeMaxPoolNHWC(),
        Streamline(),  # the moved scale into the next MultiThreshold
    ]


def move_through_joins(model: ModelWrapper) -> ModelWrapper:
    """:func:`_residual_passes` until nothing moves (scales and transposes past forks/joins)."""
    for _ in range(4 * len(residual_joins(model)) + 2):  # each round moves everything one node
        before = model.model.SerializeToString()
        for p in _residual_passes():
            model = model.transform(p)
        if model.model.SerializeToString() == before:
            break
    return model


def integer_range(model: ModelWrapper, tensor: str) -> tuple[int, int]:
    """The range of an integer tensor: its FINN type, or, for a ``Mul`` by an integer constant
    (hw/build/residual_scales.py's branch weights), its input's range times that constant."""
    node = model.find_producer(tensor)
    while node is not None and node.op_type in _LAYOUT_OPS:
        node = model.find_producer(node.input[0])
    if (
        node is not None
        and node.op_type == "Mul"
        and model.get_initializer(node.input[1]) is not None
    ):
        c = np.asarray(model.get_initializer(node.input[1]))
        if c.size == 1 and float(c.item()).is_integer():
            lo, hi = integer_range(model, node.input[0])
            ends = (lo * int(c.item()), hi * int(c.item()))
            return min(ends), max(ends)
    dt = model.get_tensor_datatype(tensor)
    return int(dt.min()), int(dt.max())


def _sum_datatype(model: ModelWrapper, add):
    """The narrowest FINN integer type holding the sum of the add's two integer inputs."""
    from qonnx.core.datatype import DataType  # lazy: qonnx import

    (alo, ahi), (blo, bhi) = (integer_range(model, t) for t in add.input)
    lo, hi = alo + blo, ahi + bhi
    bits = int(max(hi, -lo - 1)).bit_length()
    return DataType[f"INT{bits + 1}"] if lo < 0 else DataType[f"UINT{max(1, bits)}"]


@register_step(RESIDUAL)
def step_fewerbits_residual(model: ModelWrapper, cfg) -> ModelWrapper:
    """After FINN's streamlining: residual joins become integer adds of their branches' integers
    (scale and layout moved past the fork and the join, the scale absorbed into the next
    thresholds), the sum typed by its exact range. A join left with a float input is refused
    in one line (it would not map to hardware)."""
    if not residual_joins(model):
        return model
    model = move_through_joins(model)
    for add in residual_joins(model):
        dts = [model.get_tensor_datatype(t) for t in add.input]
        if not all(dt.is_integer() for dt in dts):
            src = [model.find_producer(t) for t in add.input]
            names = ", ".join(
                f"{t} ({s.op_type if s else 'input'})" for t, s in zip(add.input, src, strict=True)
            )
            raise BuildError(
                f"residual add {add.name}: inputs {names} are not both integer after streamlining; "
                "quantize both branches with one shared quantizer"
            )
        model.set_tensor_datatype(add.output[0], _sum_datatype(model, add))
    return model


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
    _exact_sum_thresholds(model)
    return model


#: model metadata key: JSON {quantizer tag: 2**s} for each ROUND quantizer that a global
#: pooling's Trunc became: its thresholds on the integer sum are exactly (m + 1/2) * 2**s
SUM_STEPS_KEY = "fewerbits.pool_sum_steps"


def _exact_sum_thresholds(model: ModelWrapper) -> None:
    """Thresholds of the quantizers recorded under :data:`SUM_STEPS_KEY` set to their exact
    values ``(m + 1/2) * 2**s`` on the GlobalAccPool sum. FINN computes them in float32 at
    ``step_qonnx_to_finn`` (``(m + 1/2) * out_scale``, ~6e-8 relative off), which is far above
    the threshold fix's tie tolerance: the ties of even levels would round up."""
    raw = model.get_metadata_prop(SUM_STEPS_KEY)
    steps = json.loads(raw) if raw else {}
    lowest = {r.get("tag"): r["min_int"] for r in _records(model)}
    for mt in model.get_nodes_by_op_type("MultiThreshold"):
        tag = node_tag(model, mt)
        if tag not in steps:
            continue
        src = model.find_producer(mt.input[0])
        while src is not None and src.op_type == "Transpose":
            src = model.find_producer(src.input[0])
        t = model.get_initializer(mt.input[1])
        exact = (lowest[tag] + np.arange(t.shape[-1]) + 0.5) * steps[tag]
        exact = np.broadcast_to(exact, t.shape)
        if src is None or src.op_type != "GlobalAccPool" or not np.allclose(t, exact, rtol=1e-6):
            raise BuildError(
                f"{mt.name} ({tag[len(BUILT) :]} as a quantizer): expected the thresholds "
                f"(m + 1/2) * {steps[tag]} on a GlobalAccPool sum after streamlining"
            )
        model.set_initializer(mt.input[1], exact.astype(t.dtype))


def _trunc_mode(node) -> str:
    from qonnx.util.basic import get_by_name

    a = get_by_name(node.attribute, "rounding_mode")
    return (a.s.decode() if a is not None else "FLOOR").upper()


def _trunc_params(model: ModelWrapper, trunc, where: str) -> tuple[np.float32, np.float32, int]:
    """``(scale, out_scale, shift)`` of a Trunc (v2) whose output is ``round_mode(clip(S /
    2**shift)) * out_scale`` for the integer ``S = x / scale``; refused unless the scales and
    bit widths are scalar constants, the zero point 0 and ``out_scale = scale * 2**shift``."""
    vals = [model.get_initializer(t) for t in trunc.input[1:]]
    if any(v is None or np.asarray(v).size != 1 for v in vals):
        raise BuildError(f"{where}: needs scalar constant scale, zero point and bit width")
    scale_v, zp_v, _, out_v, _ = (np.float32(np.asarray(v).item()) for v in vals)
    shift = int(np.round(np.log2(out_v / scale_v)))
    if zp_v != 0 or np.float32(scale_v * np.float32(2.0**shift)) != out_v or shift < 0:
        raise BuildError(
            f"{where}: expected zero point 0 and output scale = scale * 2**shift "
            f"(got zero point {zp_v}, scales {scale_v}, {out_v})"
        )
    return scale_v, out_v, shift


def _quant_for_trunc(
    model: ModelWrapper,
    trunc,
    quant_in: str,
    base: str,
    scale: float | None = None,
    out: str | None = None,
):
    """The activation quantizer ``Quant(quant_in, scale, 0, out_bits, ROUND)`` (default
    ``scale``: the Trunc's output scale; the Trunc's sign, narrow range and, by default, its
    output tensor), tagged as a quantizer the build made."""
    from onnx import helper
    from qonnx.util.basic import get_by_name

    out_v = np.asarray(model.get_initializer(trunc.input[4])).item() if scale is None else scale
    bits_v = np.asarray(model.get_initializer(trunc.input[5])).item()
    model.set_initializer(base + "_scale", np.float32(out_v))
    model.set_initializer(base + "_zp", np.float32(0.0))
    model.set_initializer(base + "_bits", np.float32(bits_v))
    quant = helper.make_node(
        "Quant",
        [quant_in, base + "_scale", base + "_zp", base + "_bits"],
        [out or trunc.output[0]],
        name=trunc.name,
        domain="qonnx.custom_op.general",
        signed=int(get_by_name(trunc.attribute, "signed").i),
        narrow=int(get_by_name(trunc.attribute, "narrow").i),
        rounding_mode="ROUND",
    )
    set_tag(model, quant.output[0], BUILT + trunc.name)  # no exported quantizer to pair
    return quant


def _window_sum_then_round(model: ModelWrapper, pool, trunc, where: str) -> None:
    """Windowed ROUND as ``Mul(1/scale) -> AveragePool -> Trunc(shift 0, FLOOR) ->
    Quant(ROUND, 2**s) -> Mul(scale)`` (see the module docstring): FINN's QuantAvgPool2d
    with shift 0 computes the integer window sum ``S`` and the quantizer on ``S`` has the
    float32-exact thresholds ``(m + 1/2) * 2**s``, decided half to even by the threshold fix."""
    from onnx import helper
    from qonnx.util.basic import get_by_name

    kernel = list(get_by_name(pool.attribute, "kernel_shape").ints)
    pads = get_by_name(pool.attribute, "pads")
    if len(kernel) != 2 or kernel[0] != kernel[1] or (pads is not None and any(pads.ints)):
        raise BuildError(
            f"{where}: FINN builds a windowed average pooling only with a square 2-D "
            f"kernel and no padding (got kernel {kernel}, pads {list(pads.ints) if pads else []})"
        )
    scale_v, _, shift = _trunc_params(model, trunc, where)
    in_bits = int(np.asarray(model.get_initializer(trunc.input[3])).item())
    k2 = kernel[0] * kernel[1]
    ibits = int(np.floor(np.log2(2.0**in_bits / k2)))  # FINN's QuantAvgPool2d input bits
    acc_bits = int((2**ibits - 1) * k2).bit_length()
    if acc_bits != in_bits:  # FINN's QuantAvgPool2d would shift the sum
        raise BuildError(
            f"{where}: the window sum needs {acc_bits} bits where the Trunc declares "
            f"{in_bits}; FINN's QuantAvgPool2d would shift it"
        )
    base = trunc.name + "_as_quant"
    nodes = list(model.graph.node)
    quant = _quant_for_trunc(model, trunc, base + "_sum", base, 2.0**shift, base + "_levels")
    # the pooling on k*k times the input's integers: its mean is the integer sum S
    model.set_initializer(base + "_to_int", np.float32(1.0 / np.float64(scale_v)))
    to_int = helper.make_node(
        "Mul", [pool.input[0], base + "_to_int"], [base + "_int"], name=base + "_to_int"
    )
    pool.input[0] = base + "_int"
    one, bits = base + "_one", base + "_sum_bits"
    model.set_initializer(one, np.float32(1.0))
    model.set_initializer(bits, np.float32(in_bits))
    out = trunc.output[0]
    trunc.input[1], trunc.input[4], trunc.input[5] = one, one, bits
    trunc.output[0] = base + "_sum"
    get_by_name(trunc.attribute, "rounding_mode").s = b"FLOOR"
    trunc.name = base + "_window_sum"
    model.set_initializer(base + "_out_scale", np.float32(scale_v))
    rescale = helper.make_node(
        "Mul", [base + "_levels", base + "_out_scale"], [out], name=base + "_rescale"
    )
    model.graph.node.insert(nodes.index(pool), to_int)
    model.graph.node.insert(list(model.graph.node).index(trunc) + 1, quant)
    model.graph.node.insert(list(model.graph.node).index(quant) + 1, rescale)


@register_step(TRUNC_AVG_POOL)
def step_fewerbits_trunc_avg_pool(model: ModelWrapper, cfg) -> ModelWrapper:
    """Truncating average pooling exact or refused (see the module docstring)."""
    from onnx import helper
    from qonnx.transformation.infer_shapes import InferShapes

    changed = False
    for trunc in model.get_nodes_by_op_type("Trunc"):
        pool = model.find_producer(trunc.input[0])
        if pool is None or pool.op_type not in ("AveragePool", "GlobalAveragePool"):
            continue
        mode = _trunc_mode(trunc)
        where = f"average pooling {pool.name} (its Trunc {trunc.name}, rounding_mode {mode})"
        if mode not in ("ROUND", "HALF_EVEN", "FLOOR"):
            raise BuildError(f"{where}: only ROUND and FLOOR are built; use one of those")
        if pool.op_type == "AveragePool":
            if mode == "FLOOR":
                continue  # FINN's AvgPoolAndTruncToQuantAvgPool (QuantAvgPool2d)
            _window_sum_then_round(model, pool, trunc, where)
            changed = True
            continue
        _, out_v, shift = _trunc_params(model, trunc, where)
        base = trunc.name + "_as_quant"
        quant_in = trunc.input[0]
        if mode == "FLOOR":  # floor(y) = round(y - 1/2 + 2**-(s+1)) on the grid y in Z/2**s
            model.set_initializer(base + "_shift", np.float32((2.0 ** -(shift + 1) - 0.5) * out_v))
            quant_in = base + "_in"
            add = helper.make_node(
                "Add", [trunc.input[0], base + "_shift"], [quant_in], name=base + "_floor"
            )
            model.graph.node.insert(list(model.graph.node).index(trunc), add)
        quant = _quant_for_trunc(model, trunc, quant_in, base)
        if mode != "FLOOR":  # FLOOR's shifted thresholds are never ties
            raw = model.get_metadata_prop(SUM_STEPS_KEY)
            steps = {**(json.loads(raw) if raw else {}), BUILT + trunc.name: 2**shift}
            model.set_metadata_prop(SUM_STEPS_KEY, json.dumps(steps))
        idx = list(model.graph.node).index(trunc)
        model.graph.node.remove(trunc)
        model.graph.node.insert(idx, quant)
        changed = True
    return model.transform(InferShapes()) if changed else model
