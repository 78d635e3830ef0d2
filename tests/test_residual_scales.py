"""The search behind residual adds of two float scales (hw/build/residual_scales.py): integer
branch weights (q, p) and integer thresholds T' with [s1 a + s2 b >= T] == [q a + p b >= T']
for every pair of the branches' integer ranges, checked here by brute force in exact rational
arithmetic, independently of the construction; a perturbed weight or threshold is caught.
End to end (export, build, verify all-RTL) in tests/test_rtl_lib_residual.py."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from fewerbits.hw.build.residual_scales import (
    Weights,
    continued_fraction,
    exact,
    exact_on_all_pairs,
    find_weights,
    integer_thresholds,
    split_points,
    weight_candidates,
)

U8 = (0, 255)


def f32(*v: float) -> list[float]:
    return [float(np.float32(x)) for x in v]


def relu_thresholds(s3: float, levels: int, channels: int = 1) -> np.ndarray:
    """A QuantReLU's thresholds as FINN's handler makes them: float32 of (k + 1/2) * s3."""
    k = np.arange(levels - 1) + 0.5
    s = np.float64(s3) * (1 + 0.1 * np.arange(channels))[:, None]
    return np.float32(k[None, :] * np.float32(s)).astype(np.float64)


def test_continued_fraction_and_candidates():
    r = Fraction(415, 93)
    assert continued_fraction(r) == [4, 2, 6, 7]
    cands = list(weight_candidates(r))
    assert cands[-1] == (93, 415)  # the exact ratio last
    assert (1, 4) in cands and (2, 9) in cands  # convergents 4/1, 9/2
    sizes = [max(q, p) for q, p in cands]
    assert sizes == sorted(sizes)


def test_search_is_exact_where_the_rounded_ratio_is_not():
    """Two 8-bit branches with Brevitas-like float32 scales into a QuantReLU: every rounded
    ratio p = round(q * s2/s1) for q = 100 .. 4096 fails for some pair, the search finds
    smaller weights that are exact on all 65,536 pairs and 255 thresholds."""
    s1, s2, s3 = f32(0.0132566, 0.0116198, 0.0201)
    t = relu_thresholds(s3, 256)
    bstar = split_points(exact(s1), exact(s2), U8, U8, t)
    for q in (100, 256, 1000, 1024, 4096):
        p = round(q * s2 / s1)
        assert integer_thresholds(bstar, U8, U8, q, p) is None, (q, p)
    w = find_weights(s1, s2, U8, U8, t)
    assert w is not None and max(w.q, w.p) < 1000, w
    assert exact_on_all_pairs(s1, s2, U8, U8, t, w)
    # the rewrite is wrong if any weight or threshold is off by one: the brute force sees it
    assert not exact_on_all_pairs(s1, s2, U8, U8, t, Weights(w.q + 1, w.p, w.thresholds, 0))
    assert not exact_on_all_pairs(s1, s2, U8, U8, t, Weights(w.q, w.p - 1, w.thresholds, 0))
    for k in (0, 100, 254):
        bad = w.thresholds.copy()
        bad[0, k] += 1
        assert not exact_on_all_pairs(s1, s2, U8, U8, t, Weights(w.q, w.p, bad, 0)), k


def test_signed_branch_per_channel_thresholds_and_simple_ratios():
    """A signed 4-bit branch and three threshold rows; a power-of-two ratio and equal scales
    need the smallest weights."""
    s1, s2, s3 = f32(0.11, 0.0371, 0.23)
    a, b = (0, 15), (-8, 7)
    t = relu_thresholds(s3, 16, channels=3)
    w = find_weights(s1, s2, a, b, t)
    assert w is not None and w.thresholds.shape == (3, 15)
    assert exact_on_all_pairs(s1, s2, a, b, t, w)
    s1, s3 = f32(0.0123, 0.05)
    t = relu_thresholds(s3, 16)
    w = find_weights(s1, 2 * s1, a, a, t)
    assert (w.q, w.p) == (1, 2) and exact_on_all_pairs(s1, 2 * s1, a, a, t, w)
    w = find_weights(s1, s1, a, a, t)
    assert (w.q, w.p, w.tried) == (1, 1, 1)


def test_no_weights_below_the_bound_is_none():
    s1, s2, s3 = f32(0.0132566, 0.0116198, 0.0201)
    assert find_weights(s1, s2, U8, U8, relu_thresholds(s3, 256), bound=2**12) is None


@pytest.mark.parametrize("seed", range(3))
def test_random_scales_brute_force(seed):
    """Random float32 scales and thresholds (also off the half-step grid, as after a BatchNorm
    between the add and the quantizer): whatever the search returns is exact on every pair."""
    rng = np.random.default_rng(seed)
    s1, s2 = f32(*(10.0 ** rng.uniform(-3, -1, 2)))
    a, b = (0, 31), (-16, 15)
    lo, hi = s1 * a[0] + s2 * b[0], s1 * a[1] + s2 * b[1]
    t = np.sort(rng.uniform(lo, hi, (2, 20)), axis=1)
    w = find_weights(s1, s2, a, b, t)
    assert w is not None
    assert exact_on_all_pairs(s1, s2, a, b, t, w)


def test_quantizer_boundaries_through_a_batchnorm_against_60_digit_arithmetic():
    """The exact boundaries of a QuantReLU behind a BatchNorm (the square root bracketed,
    hw/build/residual_scales.py ``quantizer_boundaries``): the weights found for them decide
    every pair as 60-digit decimal arithmetic of ``relu(bn(s1*a + s2*b))`` against the levels
    does (half-even ties cannot occur: the roots are irrational); a perfect square root is
    exact (``lo is hi``)."""
    from decimal import Decimal, getcontext

    from fewerbits.hw.build.residual_scales import quantizer_boundaries

    getcontext().prec = 60
    s1, s2, s3 = f32(0.0132566, 0.0116198, 0.0201)
    a_r, b_r = (0, 15), (-8, 7)
    bn = {"op": "bn", "gamma": f32(0.8, 1.3), "beta": f32(0.05, -0.1), "mean": f32(0.02, 0.1),
          "var": f32(0.7, 0.31), "eps": f32(1e-5)[0]}  # fmt: skip
    rec = {"quant": "Quant_9", "scale": [s3], "zero_point": [0.0], "chain": [bn, {"op": "relu"}]}
    bounds = quantizer_boundaries(rec, "even", 0, 15)
    assert bounds.lo.shape == (2, 15) and bounds.lo is not bounds.hi
    w = find_weights(s1, s2, a_r, b_r, bounds)
    assert w is not None and w.thresholds.shape == (2, 15)
    d = {k: [Decimal(v) for v in bn[k]] for k in ("gamma", "beta", "mean", "var")}
    for c in range(2):
        root = (d["var"][c] + Decimal(bn["eps"])).sqrt()
        for a in range(a_r[0], a_r[1] + 1):
            for b in range(b_r[0], b_r[1] + 1):
                x = Decimal(s1) * a + Decimal(s2) * b
                y = max((x - d["mean"][c]) * d["gamma"][c] / root + d["beta"][c], Decimal(0))
                level = min(int((y / Decimal(s3)).to_integral_value()), 15)
                assert level == int(np.sum(w.q * a + w.p * b >= w.thresholds[c])), (c, a, b)
    exact_root = dict(bn, var=[0.25, 1.0], eps=0.0)  # sqrt = 1/2, 1: rational boundaries
    b2 = quantizer_boundaries(dict(rec, chain=[exact_root]), "even", 0, 15)
    assert b2.lo is b2.hi and b2.lo[0, 0] == (
        Fraction(1, 2) * exact(s3) - exact(bn["beta"][0])
    ) * Fraction(1, 2) / exact(bn["gamma"][0]) + exact(bn["mean"][0])
