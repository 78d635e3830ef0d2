"""Fixes for FINN's Quant -> MultiThreshold conversion (finn-plus 1.6.1, qonnx 1.0.0).

Two upstream problems, both measured (see /work/shared/notes/upstream-stack.md):

1. Rounding ties / rounding modes. finn-plus 1.6.1
   ``finn.transformation.qonnx.qonnx_activation_handlers`` ignores the Quant node's
   ``rounding_mode``: every activation quantizer becomes a MultiThreshold with thresholds at the
   half steps and the comparison ``x >= t``, i.e. round-half-UP. Brevitas exports
   ``rounding_mode="ROUND"`` (round-half-to-EVEN, ``torch.round``), so every input that lands
   exactly on a half step can disagree by one level (symptom: 10/100 outputs bit-exact on a w2a2
   net whose accumulators often hit ties). ``FLOOR``/``CEIL`` quantizers are off by half a step
   everywhere.
2. XNOR-popcount thresholds. After streamlining, the thresholds of layers fed by an
   XnorPopcountMatMul are not clipped to the popcount range (seen -69.8 .. 172 for 64 inputs);
   ``step_minimize_bit_width`` then infers a too narrow accumulator and MVAU_hls asserts
   ``thresholds >= 0`` at code generation (symptom: every w1a1 net fails to build).

The fix is three FINN-builder-style steps (``step(model, cfg) -> model``) registered by hw/build/custom_steps.py:

* :func:`step_fewerbits_record_rounding` (before ``step_qonnx_to_finn``) records, for every
  activation quantizer in graph order, the tie rule of its rounding mode and its lowest
  integer level. FLOOR/CEIL/UP/DOWN quantizers are refused (FINN would build them as
  round-half-up, off by half a step).
* :func:`step_fewerbits_fix_float_ties` (right after ``step_qonnx_to_finn``): every float
  threshold is a half-step boundary; a step whose tie must go down compares ``x > t``, written
  as ``x >= nextafter(t, +inf)`` in float32.
* :func:`step_fewerbits_fix_thresholds` (right after ``step_streamline``): every MultiThreshold
  whose input is an integer accumulator gets exact integer thresholds: for an integer ``x``,
  ``x >= t`` equals ``x >= ceil(t)``, and a threshold exactly on an integer is a tie, resolved
  by the recorded rule (``x >= t`` when the tie goes up, ``x >= t + 1`` when it goes down; for
  round-half-even, up iff the upper level is even). Thresholds are then clipped to
  ``[acc_min, acc_max + 1]`` of the accumulator range computed from the producing
  MatMul/Conv/XnorPopcountMatMul weights, which is the XNOR fix. The function computed on the
  accumulator's range is unchanged except at ties, where it now matches PyTorch.

3. Float32 threshold arithmetic. FINN's streamlining folds the scales, biases and BatchNorm
   parameters into the thresholds in float32; with float scales (Brevitas' defaults) a
   threshold can land within rounding of an integer on the wrong side (seen: Brevitas'
   TFC-w1a1 with random BatchNorm statistics, exact 391.000005, FINN's float32 391.0, so the
   integer threshold became 391 instead of 392: 1 of 192 thresholds flipped).
   :func:`step_fewerbits_float64_params` (right before ``step_streamline``) turns every float32
   parameter of the graph into float64 -- the exported float32 values are exact rationals,
   float64 arithmetic on them is ~1e-16 relative, far below any spacing of an integer
   accumulator -- so FINN's own streamlining computes the thresholds from the exact parameters;
   :func:`fix_thresholds` then decides ties within :data:`TIE_RTOL` and casts the graph back to
   float32 (integer thresholds below 2**24 are exact in float32).
"""

from __future__ import annotations

import json

import numpy as np

from fewerbits.core import versions
from fewerbits.core.quant_tags import get_tag, node_tag

FINN_PLUS_VERSION = versions.FINN_PLUS
QONNX_VERSION = versions.QONNX
#: model metadata key holding the recorded activation quantizers (JSON list)
META_KEY = "fewerbits.act_quant"

#: tie rule per (recorded) rounding mode: "even" | "up" | "down" | "away" | "zero"
_TIE_RULES = {
    "ROUND": "even",
    "HALF_EVEN": "even",
    "HALF_UP": "away",
    "HALF_DOWN": "zero",
}


#: a float64 threshold this close (relative) to an integer is an exact tie of the rational
#: parameters (float64 noise after streamlining is ~1e-15 relative; float32 would be 6e-8)
TIE_RTOL = 1e-9


class ThresholdFixError(RuntimeError):
    """The fix cannot be applied safely (one line naming the node)."""


# ---- step 1: before step_qonnx_to_finn --------------------------------------------------------


def _is_act_quant(model, node) -> bool:
    return (
        node.op_type in ("Quant", "BipolarQuant")
        and model.get_initializer(node.input[0]) is None
        and model.get_initializer(node.output[0]) is None
    )


def _attr(node, name: str, default):
    from qonnx.util.basic import get_by_name

    a = get_by_name(node.attribute, name)
    if a is None:
        return default
    return a.s.decode() if a.type == a.STRING else a.i


def record_rounding(model):
    """Record (and normalise) every activation quantizer; return ``(model, records)``."""

    records = []
    new_nodes = []
    for node in list(model.graph.node):
        if not _is_act_quant(model, node):
            continue
        tag = get_tag(model, node.output[0])  # hw/build/quant_tags.py, None if not tagged
        if node.op_type == "BipolarQuant":
            # Brevitas binary_sign: x >= 0 -> +1 (the same as FINN's >= 0 threshold)
            records.append(
                {"node": node.name, "mode": "SIGN", "tie": "up", "min_int": -1, "tag": tag}
            )
            continue
        mode = str(_attr(node, "rounding_mode", "ROUND")).upper()
        signed, narrow = bool(_attr(node, "signed", 1)), bool(_attr(node, "narrow", 0))
        bits = int(np.asarray(model.get_initializer(node.input[3])).item())
        min_int = (-(2 ** (bits - 1)) + int(narrow)) if signed else 0
        if mode in ("FLOOR", "CEIL", "UP", "DOWN"):
            # FINN builds these as round-half-up (off by half a step everywhere); a half-step
            # shift in front of the Quant changes FINN's handler choice and was not exact in
            # our tests, so refuse instead of building a wrong accelerator
            raise ThresholdFixError(
                f"Quant node {node.name}: rounding_mode {mode} is built by FINN "
                f"{FINN_PLUS_VERSION} as round-half-up (wrong by half a step); use ROUND "
                "(Brevitas' default) for activation quantizers"
            )
        if mode in _TIE_RULES:
            tie = _TIE_RULES[mode]
        else:
            raise ThresholdFixError(
                f"Quant node {node.name}: rounding_mode {mode!r} cannot be mapped to FINN "
                "thresholds; use ROUND, HALF_EVEN, HALF_UP, HALF_DOWN, FLOOR or CEIL"
            )
        records.append(
            {"node": node.name, "mode": mode, "tie": tie, "min_int": min_int, "tag": tag}
        )
    for quant, add in new_nodes:
        idx = list(model.graph.node).index(quant)
        model.graph.node.insert(idx, add)
    model.set_metadata_prop(META_KEY, json.dumps(records))
    return model, records


def step_fewerbits_record_rounding(model, cfg=None):
    """FINN builder step (before step_qonnx_to_finn): record activation rounding modes."""
    from qonnx.transformation.infer_shapes import InferShapes

    model, _ = record_rounding(model)
    return model.transform(InferShapes())


# ---- step 2: right after step_streamline ------------------------------------------------------

_PASS_THROUGH = ("Transpose", "Reshape", "Flatten", "MaxPool", "MaxPoolNHWC", "Squeeze")


def accumulator_range(model, tensor: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-channel (min, max) of an integer accumulator, from its producing weights."""
    node = model.find_producer(tensor)
    while node is not None and node.op_type in _PASS_THROUGH:
        node = model.find_producer(node.input[0])
    if node is None:
        return None
    if node.op_type == "XnorPopcountMatMul":
        k = model.get_initializer(node.input[1]).shape[0]
        return np.array([0.0]), np.array([float(k)])
    if node.op_type not in ("MatMul", "Conv"):
        return None
    w = model.get_initializer(node.input[1])
    idt = model.get_tensor_datatype(node.input[0])
    if w is None or not idt.is_integer():
        return None
    if node.op_type == "Conv":  # (OFM, IFM/groups, k, k) -> (IFM*k*k, OFM)
        if _attr(node, "group", 1) != 1:
            return None
        w = w.reshape(w.shape[0], -1).T
    w = np.asarray(w, dtype=np.float64)
    lo = np.where(w > 0, idt.min(), idt.max())
    hi = np.where(w > 0, idt.max(), idt.min())
    acc_min, acc_max = (w * lo).sum(axis=0), (w * hi).sum(axis=0)
    return acc_min, acc_max


def strict_steps(tie: str, min_int: int, shape: tuple[int, int]) -> np.ndarray:
    """Which threshold steps must compare ``x > t`` (tie goes down) instead of ``x >= t``.

    Step ``i`` moves the output from level ``min_int + i`` to ``min_int + i + 1``."""
    upper = min_int + 1 + np.arange(shape[1])[None, :]
    if tie == "up":
        strict = np.zeros(shape, dtype=bool)
    elif tie == "down":
        strict = np.ones(shape, dtype=bool)
    elif tie == "even":  # the tie goes to the even one of the two levels
        strict = np.broadcast_to(upper % 2 != 0, shape)
    elif tie in ("away", "zero"):  # the tie at upper - 1/2 goes away from / towards zero
        pos = np.broadcast_to(upper > 0, shape)
        strict = ~pos if tie == "away" else pos
    else:
        raise ThresholdFixError(f"unknown tie rule {tie!r}")
    return np.array(strict)


def _records(model) -> list[dict]:
    raw = model.get_metadata_prop(META_KEY)
    return json.loads(raw) if raw else []


def _records_by_identity(model, records: list[dict], mts: list) -> list[dict] | None:
    """The record of each MultiThreshold by its quantizer tag (hw/build/quant_tags.py), in
    ``mts`` order; None if the records or the nodes are not all tagged (then only the
    position is left: the callers say when they use it)."""
    by_tag = {r.get("tag"): r for r in records}
    tags = [node_tag(model, mt) for mt in mts]
    if None in by_tag or None in tags or not set(tags) <= set(by_tag):
        return None
    return [by_tag[t] for t in tags]


def fix_float_ties(model):
    """Right after qonnx_to_finn (float domain): every threshold is a half-step boundary, so a
    step whose tie must go down compares ``x > t``, i.e. ``x >= nextafter(t, +inf)`` in
    float32. Return ``(model, n_fixed)``."""
    records = _records(model)
    mts = [n for n in model.graph.node if n.op_type == "MultiThreshold"]
    if len(records) != len(mts):
        raise ThresholdFixError(
            f"{len(mts)} MultiThreshold nodes after step_qonnx_to_finn but {len(records)} "
            "activation quantizers were recorded; was step_fewerbits_record_rounding run?"
        )
    records = _records_by_identity(model, records, mts) or records  # right after the
    # conversion the MultiThresholds stand where their Quant nodes stood: position is identity
    for rec, mt in zip(records, mts, strict=True):
        t = np.asarray(model.get_initializer(mt.input[1]), dtype=np.float32)
        strict = strict_steps(rec["tie"], rec["min_int"], t.shape)
        bumped = np.where(strict, np.nextafter(t, np.float32(np.inf)), t)
        model.set_initializer(mt.input[1], bumped.astype(np.float32))
    return model, len(mts)


def step_fewerbits_fix_float_ties(model, cfg=None):
    """FINN builder step (right after step_qonnx_to_finn): float thresholds with tie rules."""
    model, _ = fix_float_ties(model)
    return model


def exact_thresholds(
    t: np.ndarray,
    tie: str,
    min_int: int,
    acc_range: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Integer thresholds for integer inputs reproducing ``tie`` exactly at integer ties.

    ``t`` has shape (channels, steps); step ``i`` moves the output from level ``min_int + i``
    to ``min_int + i + 1``.
    """
    exact = np.asarray(t).dtype == np.float64  # from the float64 parameters: ties within rtol
    t = np.asarray(t, dtype=np.float64)
    n = np.round(t)
    tie_at = np.abs(t - n) <= TIE_RTOL * np.maximum(1.0, np.abs(t)) if exact else t == n
    t = np.where(tie_at, n, t)
    out = np.ceil(t) + (tie_at & strict_steps(tie, min_int, t.shape))
    if acc_range is not None:
        lo = np.asarray(acc_range[0], dtype=np.float64).reshape(-1, 1)
        hi = np.asarray(acc_range[1], dtype=np.float64).reshape(-1, 1)
        if out.shape[0] == 1:  # one global threshold row: clip to the global range
            lo, hi = lo.min(keepdims=True), hi.max(keepdims=True)
        out = np.clip(out, lo, hi + 1)
    return out.astype(np.float32)


def fix_thresholds(model, records: list[dict] | None = None):
    """Make the thresholds of every integer-input MultiThreshold exact; return (model, n_fixed)."""
    from qonnx.custom_op.registry import getCustomOp

    if records is None:
        records = _records(model)
    mts = [n for n in model.graph.node if n.op_type == "MultiThreshold"]
    uniform_tie = "even"  # no record (model not from our flow): Brevitas' round-half-even
    tagged = _records_by_identity(model, records, mts) if records else None
    if tagged is not None:
        # by identity: streamlining may order a fork's branches differently from the export
        records = tagged
    elif records and len(records) != len(mts):
        ties = {r["tie"] for r in records}
        if len(ties) != 1:
            raise ThresholdFixError(
                f"{len(mts)} MultiThreshold nodes but {len(records)} recorded activation "
                "quantizers with different rounding modes; cannot match them"
            )
        uniform_tie = ties.pop()
    fixed = 0
    for i, mt in enumerate(mts):
        idt = model.get_tensor_datatype(mt.input[0])
        if not idt.is_integer():
            continue
        inst = getCustomOp(mt)
        t = model.get_initializer(mt.input[1])
        if records and len(records) == len(mts):
            rec = records[i]
        else:  # one rounding mode for all; the lowest level is the absorbed output bias
            rec = {"tie": uniform_tie, "min_int": int(round(inst.get_nodeattr("out_bias")))}
        tie, min_int = rec["tie"], rec["min_int"]
        rng = accumulator_range(model, mt.input[0])
        if rng is not None and t.shape[0] not in (1, len(rng[0])):
            rng = None
        new = exact_thresholds(t, tie, min_int, rng)
        if idt.is_integer() and rng is None:
            new = np.clip(new, idt.min(), idt.max() + 1)
        model.set_initializer(mt.input[1], new)
        fixed += 1
    return set_float_type(model, np.float32), fixed


def step_fewerbits_fix_thresholds(model, cfg=None):
    """FINN builder step (right after step_streamline): exact tie-aware, clipped thresholds."""
    model, _ = fix_thresholds(model)
    return model


# ---- float64 parameters for streamlining (see 3. above) --------------------------------------


def set_float_type(model, dtype):
    """Every float initializer and float tensor type of ``model`` as ``dtype`` (float32 or
    float64), in place; returns ``model``. Integer-valued parameters are unchanged by it."""
    from onnx import TensorProto
    from onnx import numpy_helper as nh

    old, new = (
        (TensorProto.FLOAT, TensorProto.DOUBLE)
        if dtype == np.float64
        else (TensorProto.DOUBLE, TensorProto.FLOAT)
    )
    for init in model.graph.initializer:
        if init.data_type == old:
            init.CopyFrom(nh.from_array(nh.to_array(init).astype(dtype), init.name))
    g = model.graph
    for vi in [*g.value_info, *g.input, *g.output]:
        if vi.type.tensor_type.elem_type == old:
            vi.type.tensor_type.elem_type = new
    return model


def step_fewerbits_float64_params(model, cfg=None):
    """FINN builder step (right before step_streamline): float64 parameters, so that FINN's
    streamlining computes thresholds from the exact exported values (cast back to float32 by
    step_fewerbits_fix_thresholds)."""
    return set_float_type(model, np.float64)


#: custom steps of this module, by name (registered by hw/build/custom_steps.py)
STEPS = {
    "step_fewerbits_record_rounding": step_fewerbits_record_rounding,
    "step_fewerbits_fix_float_ties": step_fewerbits_fix_float_ties,
    "step_fewerbits_float64_params": step_fewerbits_float64_params,
    "step_fewerbits_fix_thresholds": step_fewerbits_fix_thresholds,
}
