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
is exactly the condition that ``T'_k = U_k`` reproduces every comparison. The ``T_k`` are not
FINN's float32 thresholds (up to ~1.5 float32 ulp off, so a pair sum in between would be
decided as FINN's floats and not as exact arithmetic) but the post-add quantizer's exact
boundaries (:func:`exact_boundaries`): ``(min_int + k + 1/2 - z) * s`` from its float32 scale
``s`` and zero point, tie rule of its rounding mode (``>`` where a half-even tie goes down),
mapped back through the per-channel affine ops between the add and it (a BatchNorm's square
root bracketed to 2**-128: its split is proven only where both ends agree), all recorded on the
QONNX model by ``step_fewerbits_residual_check``; they must match FINN's thresholds after
streamlining to within 1e-3 of a level step (else the build stops naming the quantizer), and
a model without the record falls back to FINN's thresholds (the build log says which). The
rewrite is thus exact by construction (an exhaustive check of every pair and every threshold,
per channel), not by a tolerance; a candidate that fails for one pair is rejected. Weights are
kept so that every weighted sum and threshold stays below 2**23 in magnitude (FINN executes
graphs in float32, exact for integers below 2**24; thresholds are stored as ``T' - 1/2``).

:class:`WeightTwoScaleJoins` rewrites ``Add(Mul(A, s1), Mul(B, s2)) -> MultiThreshold(T)`` as
``Add(Mul(A, q), Mul(B, p)) -> MultiThreshold(T' - 1/2)`` (a weight 1 drops its ``Mul``),
keeping the MultiThreshold's thresholds tensor and so its quantizer tag (hw/build/quant_tags.py):
the post-add quantizer is still compared with PyTorch's by identity. The thresholds are stored
as half-integers ``T' - 1/2``: for an integer input ``x >= T' - 1/2`` is ``x >= T'``, and the
threshold fix (``step_fewerbits_fix_thresholds``), which reads a threshold exactly on an
integer as a rounding tie, makes them ``T'`` again. The integer ``Mul`` nodes become FINN
``ElementwiseMul`` layers with a constant operand (RTL: ``hw/rtl_lib/mul_const.py``).

What stays refused, in one line naming the add and the user's quantizers: an add whose output
goes anywhere but into one activation quantizer (through per-channel affine ops and a ReLU at
most: it forks unquantized, a pooling follows), a BatchNorm/Mul scale <= 0 on the way, a
branch that is not an integer tensor times a positive scalar scale, and scales for which no
weights up to the bound are exact.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from fewerbits.compat.finn.thresholds import _records, strict_steps
from fewerbits.core.quant_tags import node_tag

from .recipes import (
    _LAYER_NAMES_KEY,
    _LAYOUT_OPS,
    POST_ADD_QUANTS_KEY,
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


def _as_integers(
    s1: float | Fraction,
    s2: float | Fraction,
    thresholds: np.ndarray,
    strict: np.ndarray | None = None,
):
    """``s1``, ``s2`` as integers ``n1``, ``n2`` over one common denominator ``d`` (the
    float32 scales are binary fractions), and for every threshold ``t`` (a binary float or a
    :class:`Fraction`) the smallest integer ``X`` with ``X/d >= t`` (``X/d > t`` where
    ``strict``), so that for an integer sum ``n1*a + n2*b`` the comparison is ``>= X``; an
    object array of Python integers of the thresholds' shape."""
    r1, r2 = Fraction(s1), Fraction(s2)
    d = r1.denominator * r2.denominator // math.gcd(r1.denominator, r2.denominator)
    n1, n2 = r1.numerator * (d // r1.denominator), r2.numerator * (d // r2.denominator)
    flat = np.ravel(strict) if strict is not None else np.zeros(np.size(thresholds), bool)
    ts = []
    for v, st in zip(np.ravel(thresholds), flat, strict=True):
        v = v if isinstance(v, Fraction) else exact(v)
        num = v.numerator * d
        ts.append(num // v.denominator + 1 if st else -((-num) // v.denominator))
    return n1, n2, np.array(ts, dtype=object).reshape(np.shape(thresholds))


@dataclass(frozen=True)
class Boundaries:
    """The post-add quantizer's decision boundaries on the sum ``x = s1*a + s2*b``, exact:
    step ``(c, k)`` is taken for ``x >= lo`` (``x > lo`` where ``strict``) when ``lo == hi``
    (a rational boundary); ``lo < hi`` brackets an irrational one (a BatchNorm's square root),
    which no pair sum equals, and the split is proven only where both ends give the same
    ``b`` for every ``a`` (:func:`boundary_split_points`). Object arrays of
    :class:`~fractions.Fraction`, shape ``(C, K)``; ``strict`` bool of that shape."""

    lo: np.ndarray
    hi: np.ndarray
    strict: np.ndarray


def split_points(
    s1: Fraction,
    s2: Fraction,
    a_range: tuple[int, int],
    b_range: tuple[int, int],
    thresholds: np.ndarray,
    strict: np.ndarray | None = None,
) -> np.ndarray:
    """For every threshold ``T`` (shape ``(C, K)``: binary floats or :class:`Fraction` values)
    and every ``a`` of ``a_range``, the smallest integer ``b`` with ``s1*a + s2*b >= T``
    (``> T`` where ``strict``), computed exactly and clipped to ``[b_lo - 1, b_hi + 1]`` (no
    pair above / every pair above); int64, shape ``(C, K, len(a_range))``."""
    n1, n2, t = _as_integers(s1, s2, thresholds, strict)
    a = np.arange(a_range[0], a_range[1] + 1, dtype=object)
    t = t[..., None]
    bstar = -((n1 * a - t) // n2)  # ceil((t - n1 a) / n2), exact integer division
    bstar = np.minimum(np.maximum(bstar, b_range[0] - 1), b_range[1] + 1)
    return bstar.astype(np.int64)


def boundary_split_points(
    s1: Fraction,
    s2: Fraction,
    a_range: tuple[int, int],
    b_range: tuple[int, int],
    bounds: Boundaries,
) -> np.ndarray | None:
    """:func:`split_points` of exact boundaries; None if a bracketed (irrational) boundary has
    a pair sum inside its bracket (then the bracket is too wide to decide that pair)."""
    lo = split_points(s1, s2, a_range, b_range, bounds.lo, bounds.strict)
    if bounds.lo is bounds.hi:
        return lo
    hi = split_points(s1, s2, a_range, b_range, bounds.hi, bounds.strict)
    return lo if np.array_equal(lo, hi) else None


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
    thresholds: np.ndarray | Boundaries,
    bound: int = WEIGHT_BOUND,
) -> Weights | None:
    """The smallest ``(q, p)`` among :func:`weight_candidates` of ``s2/s1`` for which integer
    thresholds exist (:func:`integer_thresholds`), every weighted sum and threshold below
    ``bound`` in magnitude; None if there is none. ``thresholds``: the graph's float
    thresholds (``x >= T``) or the quantizer's exact :class:`Boundaries`
    (:func:`quantizer_boundaries`). ``s1``, ``s2`` > 0."""
    r1, r2 = exact(s1), exact(s2)
    if isinstance(thresholds, Boundaries):
        bstar = boundary_split_points(r1, r2, a_range, b_range, thresholds)
        if bstar is None:
            return None
    else:
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
    thresholds: np.ndarray | Boundaries,
    w: Weights,
) -> bool:
    """Brute force, independent of the construction: every pair of the ranges and every
    threshold compared both ways in exact rational arithmetic, ``s1*a + s2*b >= T`` (``> T``
    where a :class:`Boundaries` is strict; its ``lo``) against ``q*a + p*b >= T'`` (for tests
    and small ranges)."""
    if isinstance(thresholds, Boundaries):
        ts, strict = thresholds.lo, thresholds.strict
    else:
        ts, strict = np.asarray(thresholds, np.float64), None
    # the sums on the scales' common grid d: s1*a + s2*b >= t  <=>  n1*a + n2*b >= X(t)
    n1, n2, xs = _as_integers(exact(s1), exact(s2), ts, strict)
    a = np.arange(a_range[0], a_range[1] + 1, dtype=object)[:, None]
    b = np.arange(b_range[0], b_range[1] + 1, dtype=object)[None, :]
    lhs = n1 * a + n2 * b
    ws = (w.q * a + w.p * b).astype(np.int64)
    for x, t2 in zip(xs.ravel(), np.ravel(w.thresholds), strict=True):
        if not np.array_equal(lhs >= x, ws >= int(t2)):
            return False
    return True


# ---- the post-add quantizer's exact boundaries -------------------------------------------------

#: bits of the square-root bracket of a BatchNorm (relative width 2**-SQRT_BITS)
SQRT_BITS = 128


def _sqrt_bracket(v: Fraction) -> tuple[Fraction, Fraction]:
    """``lo <= sqrt(v) <= hi`` with ``lo == hi`` exactly when ``v`` is a rational square."""
    n, d = v.numerator * v.denominator, v.denominator  # sqrt(v) = sqrt(n) / d
    r = math.isqrt(n << (2 * SQRT_BITS))
    lo = Fraction(r, d << SQRT_BITS)
    return lo, lo if r * r == n << (2 * SQRT_BITS) else Fraction(r + 1, d << SQRT_BITS)


def _column(values: list[float]) -> np.ndarray:
    """One exact value per channel (or one for all) as a (C, 1) object array of Fractions."""
    return np.array([exact(v) for v in values], dtype=object).reshape(-1, 1)


def quantizer_boundaries(rec: dict, tie: str, min_int: int, steps: int) -> Boundaries:
    """The exact decision boundaries on the residual sum of the quantizer ``rec``
    (``hw/build/recipes.py`` :func:`post_add_quantizer`, recorded on the QONNX model by
    ``step_fewerbits_residual_check``): step ``k`` (level ``min_int + k`` to ``min_int + k + 1``)
    at ``y/s + z = min_int + k + 1/2`` on the quantizer's input ``y`` (``y > B`` where the tie
    goes down, :func:`~fewerbits.compat.finn.thresholds.strict_steps`), mapped back through the
    affine ops between the add and the quantizer (BatchNorm: ``x = (y - beta) * sqrt(var +
    eps) / gamma + mean``, the root bracketed). Raises :class:`BuildError` for what has no
    monotone inverse (a non-positive BatchNorm/Mul scale, a Relu in front of a boundary <= 0)."""
    s, z = _column(rec["scale"]), _column(rec["zero_point"])
    u = np.array([Fraction(2 * (min_int + k) + 1, 2) for k in range(steps)], dtype=object)
    lo = (u[None, :] - z) * s
    hi = lo
    for op in reversed(rec["chain"]):
        if op["op"] == "relu":
            if any(v <= 0 for v in np.ravel(lo)):
                raise BuildError(f"{rec['quant']}: a Relu in front of a quantizer level <= 0")
        elif op["op"] in ("mul", "bn"):
            if op["op"] == "mul":
                c = _column(op["c"])
                lo_c = hi_c = 1 / c
                if any(v <= 0 for v in np.ravel(c)):
                    raise BuildError(f"{rec['quant']}: a scale <= 0 between the add and it")
            else:
                gamma = _column(op["gamma"])
                if any(v <= 0 for v in np.ravel(gamma)):
                    raise BuildError(f"{rec['quant']}: a BatchNorm weight <= 0 in front of it")
                var = _column(op["var"])
                roots = [_sqrt_bracket(v + exact(op["eps"])) for v in np.ravel(var)]
                lo_c = np.array([r[0] for r in roots], dtype=object).reshape(-1, 1) / gamma
                hi_c = np.array([r[1] for r in roots], dtype=object).reshape(-1, 1) / gamma
                beta, mean = _column(op["beta"]), _column(op["mean"])
                lo, hi = lo - beta, hi - beta
            nonneg = np.vectorize(lambda v: v >= 0, otypes=[bool])  # interval times c > 0
            lo, hi = (
                np.where(nonneg(lo), lo * lo_c, lo * hi_c),
                np.where(nonneg(hi), hi * hi_c, hi * lo_c),
            )
            if op["op"] == "bn":
                lo, hi = lo + mean, hi + mean
        else:  # add
            c = _column(op["c"])
            lo, hi = lo - c, hi - c
    strict = strict_steps(tie, min_int, lo.shape)
    if all(a == b for a, b in zip(np.ravel(lo), np.ravel(hi), strict=True)):
        hi = lo
    return Boundaries(lo, hi, strict)


def exact_boundaries(model: ModelWrapper, mt, t: np.ndarray) -> tuple[Boundaries | None, str]:
    """The exact boundaries of the MultiThreshold ``mt`` after a two-scale join, from the
    quantizer recorded for its tag, checked against the graph's float thresholds ``t`` (the
    same quantizer: within 1e-3 of a level step of FINN's values, shape broadcastable);
    ``(None, why)`` when nothing is recorded (then FINN's float thresholds are used)."""
    tag = node_tag(model, mt)
    raw = model.get_metadata_prop(POST_ADD_QUANTS_KEY)
    rec = (json.loads(raw) if raw else {}).get(tag)
    rounding = {r.get("tag"): r for r in _records(model)}.get(tag)
    if rec is None or rounding is None:
        return None, "no quantizer recorded for it"
    t = np.atleast_2d(np.asarray(t, np.float64))
    b = quantizer_boundaries(rec, rounding["tie"], int(rounding["min_int"]), t.shape[1])
    lo = np.vectorize(float, otypes=[np.float64])(b.lo)
    rows = max(lo.shape[0], t.shape[0])
    if lo.shape[0] not in (1, rows) or t.shape[0] not in (1, rows):
        raise BuildError(f"{_user_quant(model, tag)}: {lo.shape[0]} channels, thresholds {t.shape}")
    lo, t = np.broadcast_to(lo, (rows, lo.shape[1])), np.broadcast_to(t, (rows, t.shape[1]))
    step = np.abs(np.diff(lo, axis=1)).min(axis=1, keepdims=True) if lo.shape[1] > 1 else 1.0
    step = np.maximum(step, np.abs(lo).max(axis=1, keepdims=True) * 1e-6)
    if not np.all(np.abs(lo - t) <= 1e-3 * step):
        k = np.unravel_index(np.argmax(np.abs(lo - t) / step), lo.shape)
        raise BuildError(
            f"{_user_quant(model, tag)}: its exact boundary {lo[k]:.9g} (channel {k[0]}, step "
            f"{k[1]}) is not FINN's threshold {t[k]:.9g} after streamlining; the ops between "
            "the residual add and it were not absorbed as recorded"
        )
    if b.lo.shape[0] != rows:  # one quantizer scale, per-channel thresholds: one row each
        bc = (rows, b.lo.shape[1])
        b = Boundaries(
            *(np.broadcast_to(x, bc).copy() for x in (b.lo, b.hi)), np.broadcast_to(b.strict, bc)
        )
    return b, "its exact boundaries"


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
        bounds, against = exact_boundaries(model, mt, t)
        w = find_weights(s1, s2, ra, rb, t if bounds is None else bounds)
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
            f"({w.tried} candidate weight pair(s) checked against "
            f"{against if bounds is not None else 'FINN float thresholds: ' + against})"
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
