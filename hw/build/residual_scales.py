"""Residual adds without a shared quantizer: a join of two float scales as an exact integer sum.

A ResNet block whose two branches end in different activation quantizers (each with its own
float scale, Brevitas' default ``QuantReLU``/``QuantIdentity``) adds ``s1*a + s2*b`` with
integers ``a``, ``b`` in the ranges of the branch quantizers; FINN's streamlining can move a
scale past the add only when ``s1 == s2``, so the join stays in float. When the sum goes
straight into the next activation quantizer (a ``MultiThreshold`` with thresholds ``T_k``),
only the comparisons ``s1*a + s2*b >= T_k`` matter, and for small integers ``q``, ``p``
there are often integer thresholds ``T'_k`` with

    [s1*a + s2*b >= T_k]  ==  [q*a + p*b >= T'_k]   for every (a, b) and every k.

:func:`find_weights` searches ``(q, p)`` among the continued-fraction convergents and
semiconvergents of ``s2/s1`` (smallest first, then the exact ``s2/s1 = M2/M1`` itself when it
fits): for each candidate it computes, in exact rational arithmetic (Python integers over one
power-of-two denominator: the float32 scales and the float64 thresholds are exact binary
fractions), for every ``a`` of its range the smallest ``b`` with ``s1*a + s2*b >= T_k``
(:func:`split_points`); since ``p > 0`` the weighted sum ``q*a + p*b`` is increasing in ``b``,
so ``U_k`` (the smallest weighted sum of a pair above ``T_k``) and ``L_k`` (the largest of a
pair below) over those per-``a`` splits are the extremes over *all* pairs, and ``L_k < U_k``
is exactly the condition that ``T'_k = U_k`` reproduces every comparison. The rewrite is thus
exact by construction (an exhaustive check of every pair and every threshold, per channel),
not by a tolerance; a candidate that fails for one pair is rejected. Weights are kept so that
every weighted sum and threshold stays below 2**23 in magnitude (FINN executes graphs in
float32, exact for integers below 2**24; thresholds are stored as ``T' - 1/2``).

:class:`WeightTwoScaleJoins` rewrites ``Add(Mul(A, s1), Mul(B, s2)) -> MultiThreshold(T)`` as
``Add(Mul(A, q), Mul(B, p)) -> MultiThreshold(T' - 1/2)`` (a weight 1 drops its ``Mul``),
keeping the MultiThreshold's thresholds tensor and so its quantizer tag (hw/build/quant_tags.py):
the post-add quantizer is still compared with PyTorch's by identity. The thresholds are stored
as half-integers ``T' - 1/2``: for an integer input ``x >= T' - 1/2`` is ``x >= T'``, and the
threshold fix (``step_fewerbits_fix_thresholds``), which reads a threshold exactly on an
integer as a rounding tie, makes them ``T'`` again. The integer ``Mul`` nodes become FINN
``ElementwiseMul`` layers with a constant operand (RTL: ``hw/rtl_lib/mul_const.py``).

What stays refused, in one line naming the add and the user's quantizers: an add whose output
goes anywhere but into one activation quantizer (it forks unquantized, a pooling follows), a
branch that is not an integer tensor times a positive scalar scale, and scales for which no
weights up to the bound are exact.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from fewerbits.core.quant_tags import node_tag

from .recipes import (
    _LAYER_NAMES_KEY,
    _LAYOUT_OPS,
    TWO_SCALE_JOINS_KEY,
    move_through_joins,
    residual_joins,
)
from .steps import RESIDUAL_SCALES, BuildError, register_step

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

#: every weighted sum q*a + p*b and every threshold stays below this in magnitude (float32
#: represents integers exactly below 2**24, and the stored T' - 1/2 needs one bit more)
WEIGHT_BOUND = 2**23
#: at most this many candidate weight pairs are checked per join
MAX_CANDIDATES = 400


# ---- the search (pure: exact rationals and integer ranges) --------------------------------------


def continued_fraction(r: Fraction) -> list[int]:
    """The terms of the (finite) continued fraction of a positive rational ``r``."""
    terms = []
    n, d = r.numerator, r.denominator
    while d:
        a, rem = divmod(n, d)
        terms.append(a)
        n, d = d, rem
    return terms


def weight_candidates(r: Fraction) -> Iterator[tuple[int, int]]:
    """``(q, p)`` with ``p/q`` the convergents and semiconvergents of ``r`` (the best rational
    approximations), in increasing size, ending with ``r`` itself; ``q, p >= 1``."""
    seen = set()
    h0, k0, h1, k1 = 0, 1, 1, 0  # h_{-2}/k_{-2}, h_{-1}/k_{-1}
    for a in continued_fraction(r):
        # semiconvergents (h0 + m h1)/(k0 + m k1) for m = ceil(a/2) .. a (m = a: the convergent)
        for m in range(max(1, (a + 1) // 2), a + 1):
            h, k = h0 + m * h1, k0 + m * k1
            if h >= 1 and k >= 1 and (k, h) not in seen:
                seen.add((k, h))
                yield k, h
        h0, k0, h1, k1 = h1, k1, a * h1 + h0, a * k1 + k0


def exact(x: float) -> Fraction:
    """The exact rational value of a binary float (float32 scales, float64 thresholds)."""
    return Fraction(float(x))


def _as_integers(s1: float | Fraction, s2: float | Fraction, thresholds: np.ndarray):
    """``s1``, ``s2`` and every threshold as integers over one common denominator (binary
    fractions: the largest power-of-two denominator is a common multiple): ``n1``, ``n2``, and
    the thresholds as an object array of Python integers of their shape."""
    values = [Fraction(s1), Fraction(s2), *(exact(t) for t in np.ravel(thresholds))]
    d = max(v.denominator for v in values)
    n1, n2, *ts = (v.numerator * (d // v.denominator) for v in values)
    return n1, n2, np.array(ts, dtype=object).reshape(np.shape(thresholds))


def split_points(
    s1: Fraction,
    s2: Fraction,
    a_range: tuple[int, int],
    b_range: tuple[int, int],
    thresholds: np.ndarray,
) -> np.ndarray:
    """For every threshold ``T`` (shape ``(C, K)``) and every ``a`` of ``a_range``, the smallest
    integer ``b`` with ``s1*a + s2*b >= T``, computed exactly and clipped to
    ``[b_lo - 1, b_hi + 1]`` (no pair above / every pair above); int64, shape
    ``(C, K, len(a_range))``."""
    n1, n2, t = _as_integers(s1, s2, np.asarray(thresholds, np.float64))
    a = np.arange(a_range[0], a_range[1] + 1, dtype=object)
    t = t[..., None]
    bstar = -((n1 * a - t) // n2)  # ceil((t - n1 a) / n2), exact integer division
    bstar = np.minimum(np.maximum(bstar, b_range[0] - 1), b_range[1] + 1)
    return bstar.astype(np.int64)


def integer_thresholds(
    bstar: np.ndarray,
    a_range: tuple[int, int],
    b_range: tuple[int, int],
    q: int,
    p: int,
) -> np.ndarray | None:
    """``T'`` (shape ``(C, K)``) with ``[s1 a + s2 b >= T] == [q a + p b >= T']`` for every pair
    of the ranges, from the split points of :func:`split_points`; None if ``(q, p)`` cannot
    separate some threshold's pairs. Exhaustive: for each ``a`` the pairs above ``T`` are the
    ``b >= bstar`` (``p > 0``: their smallest weighted sum is at ``b = max(bstar, b_lo)``), the
    pairs below the ``b < bstar`` (largest at ``min(bstar - 1, b_hi)``)."""
    b_lo, b_hi = b_range
    a = np.arange(a_range[0], a_range[1] + 1, dtype=np.int64)
    bs = bstar
    above_b = np.maximum(bs, b_lo)
    has_above = above_b <= b_hi
    below_b = np.minimum(bs - 1, b_hi)
    has_below = below_b >= b_lo
    big = np.iinfo(np.int64).max
    upper = np.where(has_above, q * a + p * above_b, big).min(axis=-1)
    lower = np.where(has_below, q * a + p * below_b, -big).max(axis=-1)
    if np.any(lower >= upper):
        return None
    top = q * a_range[1] + p * b_hi + 1  # no pair above: a threshold no pair reaches
    return np.where(upper == big, top, upper)


@dataclass(frozen=True)
class Weights:
    """Integer weights of the two branches and the thresholds on ``q*a + p*b``."""

    q: int  # weight of the first input (scale s1)
    p: int  # weight of the second input (scale s2)
    thresholds: np.ndarray  # int64, the shape of the original thresholds
    tried: int  # candidates checked (the first that fits and separates is taken)


def sum_range(q: int, p: int, a_range, b_range) -> tuple[int, int]:
    """The range of ``q*a + p*b`` (``q, p > 0``)."""
    return q * a_range[0] + p * b_range[0], q * a_range[1] + p * b_range[1]


def find_weights(
    s1: float,
    s2: float,
    a_range: tuple[int, int],
    b_range: tuple[int, int],
    thresholds: np.ndarray,
    bound: int = WEIGHT_BOUND,
) -> Weights | None:
    """The smallest ``(q, p)`` among :func:`weight_candidates` of ``s2/s1`` for which integer
    thresholds exist (:func:`integer_thresholds`), every weighted sum and threshold below
    ``bound`` in magnitude; None if there is none. ``s1``, ``s2`` > 0."""
    r1, r2 = exact(s1), exact(s2)
    thresholds = np.atleast_2d(np.asarray(thresholds, np.float64))
    bstar = split_points(r1, r2, a_range, b_range, thresholds)
    tried = 0
    for q, p in weight_candidates(r2 / r1):
        lo, hi = sum_range(q, p, a_range, b_range)
        if max(abs(lo), abs(hi)) + 1 >= bound:
            break  # candidates only grow
        tried += 1
        t = integer_thresholds(bstar, a_range, b_range, q, p)
        if t is not None:
            return Weights(q, p, t, tried)
        if tried >= MAX_CANDIDATES:
            break
    return None


def exact_on_all_pairs(
    s1: float,
    s2: float,
    a_range: tuple[int, int],
    b_range: tuple[int, int],
    thresholds: np.ndarray,
    w: Weights,
) -> bool:
    """Brute force, independent of the construction: every pair of the ranges and every
    threshold compared both ways in exact rational arithmetic (for tests and small ranges)."""
    n1, n2, ts = _as_integers(exact(s1), exact(s2), np.asarray(thresholds, np.float64))
    a = np.arange(a_range[0], a_range[1] + 1, dtype=object)[:, None]
    b = np.arange(b_range[0], b_range[1] + 1, dtype=object)[None, :]
    lhs = n1 * a + n2 * b
    ws = (w.q * a + w.p * b).astype(np.int64)
    for t, t2 in zip(ts.ravel(), np.ravel(w.thresholds), strict=True):
        if not np.array_equal(lhs >= t, ws >= int(t2)):
            return False
    return True


# ---- the graph pass ---------------------------------------------------------------------------


@dataclass
class _Branch:
    """One input of a join: ``source`` (an integer tensor) times ``scale`` (None: no Mul)."""

    mul: object | None
    source: str
    scale: float


def _branch(model: ModelWrapper, tensor: str) -> _Branch | None:
    dt = model.get_tensor_datatype(tensor)
    if dt is not None and dt.is_integer():
        return _Branch(None, tensor, 1.0)
    mul = model.find_producer(tensor)
    if mul is None or mul.op_type != "Mul":
        return None
    consts = [model.get_initializer(i) for i in mul.input]
    if consts[0] is not None or consts[1] is None or np.asarray(consts[1]).size != 1:
        return None
    src_dt = model.get_tensor_datatype(mul.input[0])
    if src_dt is None or not src_dt.is_integer():
        return None
    return _Branch(mul, mul.input[0], float(np.asarray(consts[1]).item()))


def _quantizer_of(model: ModelWrapper, tensor: str) -> str:
    """The user's name of the activation quantizer that made ``tensor`` (through layout ops),
    e.g. ``Quant_5 (relu.act_quant)``; the tensor's name if none is known."""
    node = model.find_producer(tensor)
    while node is not None and node.op_type in _LAYOUT_OPS:
        node = model.find_producer(node.input[0])
    tag = node_tag(model, node) if node is not None else None
    return _user_quant(model, tag) if tag else tensor


def _user_quant(model: ModelWrapper, quant: str) -> str:
    raw = model.get_metadata_prop(_LAYER_NAMES_KEY)
    layer = (json.loads(raw) if raw else {}).get(quant)
    return f"{quant} ({layer})" if layer else quant


def _smallest_int_type(lo: int, hi: int):
    from qonnx.core.datatype import DataType  # lazy: qonnx import

    bits = int(max(hi, -lo - 1)).bit_length()
    return DataType[f"INT{bits + 1}"] if lo < 0 else DataType[f"UINT{max(1, bits)}"]


def _range(model: ModelWrapper, tensor: str) -> tuple[int, int]:
    dt = model.get_tensor_datatype(tensor)
    return int(dt.min()), int(dt.max())


def _mul_before_transpose(model: ModelWrapper, mul, dtype) -> None:
    """``Transpose -> Mul(q)`` as ``Mul(q) -> Transpose`` (a scalar commutes with a layout
    change), so that both inputs of the join are Transposes again and FINN's
    ``MoveTransposePastJoinAdd`` takes the layout change past the add into the thresholds
    (else each would be a Shuffle layer)."""
    from onnx import helper  # lazy: onnx import

    tr = model.find_producer(mul.input[0])
    if tr is None or tr.op_type != "Transpose" or len(model.find_consumers(tr.output[0])) != 1:
        return
    mid = model.make_new_valueinfo_name()
    shape = model.get_tensor_shape(tr.input[0])
    model.graph.value_info.append(helper.make_tensor_value_info(mid, 1, shape))  # FLOAT
    model.set_tensor_datatype(mid, dtype)
    out = mul.output[0]
    mul.input[0], mul.output[0] = tr.input[0], mid
    tr.input[0], tr.output[0] = mid, out
    model.graph.node.remove(mul)  # the Mul now runs first: insert it before the Transpose
    model.graph.node.insert(list(model.graph.node).index(tr), mul)


class WeightTwoScaleJoins:
    """qonnx-style pass (``apply(model) -> (model, changed)``): every join of two different
    scalar scales feeding one MultiThreshold becomes an integer weighted sum with exact integer
    thresholds (see the module docstring); a join it cannot prove exact raises
    :class:`BuildError` (one line naming the add and the user's quantizers)."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        changed = False
        for add in residual_joins(model):
            out_dt = model.get_tensor_datatype(add.output[0])
            branches = [_branch(model, t) for t in add.input]
            if out_dt is not None and out_dt.is_integer():
                continue
            if any(b is None for b in branches) or all(b.mul is None for b in branches):
                continue  # not this pattern: step_fewerbits_residual says why
            self._rewrite(model, add, branches)
            changed = True
        return model, changed

    def _rewrite(self, model: ModelWrapper, add, branches: list[_Branch]) -> None:
        names = " and ".join(
            f"{_quantizer_of(model, b.source)} (scale {b.scale:.6g})" for b in branches
        )
        where = f"residual add {add.name} of {names}"
        users = model.find_consumers(add.output[0]) or []
        if len(users) != 1 or users[0].op_type != "MultiThreshold":
            got = ", ".join(f"{u.name} ({u.op_type})" for u in users) or "the graph output"
            raise BuildError(
                f"{where}: the sum goes to {got}, not straight into one activation quantizer, "
                "so it cannot be made an exact integer sum; quantize it right after the add "
                "(e.g. QuantReLU/QuantIdentity) or share one quantizer on both branches"
            )
        mt = users[0]
        if any(b.scale <= 0 for b in branches):
            raise BuildError(f"{where}: a branch scale is not positive")
        (s1, s2), (ra, rb) = (
            (b.scale for b in branches),
            (_range(model, b.source) for b in branches),
        )
        t = np.asarray(model.get_initializer(mt.input[1]))
        w = find_weights(s1, s2, ra, rb, t)
        if w is None:
            raise BuildError(
                f"{where} into {_user_quant(model, node_tag(model, mt) or mt.name)}: no "
                f"integer branch weights below 2**23 reproduce the quantizer's thresholds "
                f"exactly (scale ratio {s2 / s1:.9g}); share one quantizer on both branches"
            )
        from qonnx.core.datatype import DataType  # lazy: qonnx import

        for b, weight in zip(branches, (w.q, w.p), strict=True):
            if b.mul is None and weight != 1:
                raise BuildError(f"{where}: an unscaled branch would need weight {weight}")
            if b.mul is None:
                continue
            if weight == 1:  # no multiplier: the add reads the integer tensor itself
                i = list(add.input).index(b.mul.output[0])
                add.input[i] = b.source
                model.graph.node.remove(b.mul)
                continue
            const = b.mul.input[1]
            old = model.get_initializer(const)
            model.set_initializer(const, np.asarray(weight, dtype=old.dtype).reshape(old.shape))
            model.set_tensor_datatype(const, DataType.get_smallest_possible(weight))
            lo, hi = _range(model, b.source)
            weighted = _smallest_int_type(lo * weight, hi * weight)
            model.set_tensor_datatype(b.mul.output[0], weighted)
            _mul_before_transpose(model, b.mul, weighted)
        lo, hi = sum_range(w.q, w.p, ra, rb)
        model.set_tensor_datatype(add.output[0], _smallest_int_type(lo, hi))
        old = model.get_initializer(mt.input[1])
        model.set_initializer(mt.input[1], (w.thresholds - 0.5).astype(old.dtype))  # same tensor
        print(
            f"fewerbits: {where}: exact as {w.q}*a + {w.p}*b with integer thresholds "
            f"({w.tried} candidate weight pair(s) checked)"
        )


@register_step(RESIDUAL_SCALES)
def step_fewerbits_residual_scales(model: ModelWrapper, cfg) -> ModelWrapper:
    """After FINN's streamlining: the residual fork/join moves (as ``step_fewerbits_residual``)
    on a copy, then :class:`WeightTwoScaleJoins`; a model without a join of two different
    scales (none recorded by ``step_fewerbits_residual_check``, or none found) is returned
    unchanged: its joins are ``step_fewerbits_residual``'s."""
    recorded = model.get_metadata_prop(TWO_SCALE_JOINS_KEY)  # step_fewerbits_residual_check
    if not residual_joins(model) or (recorded is not None and not json.loads(recorded)):
        return model
    moved = move_through_joins(copy.deepcopy(model))
    moved, changed = WeightTwoScaleJoins().apply(moved)
    return moved if changed else model
