"""Thresholds from the exact parameters (fewerbits/compat/finn/thresholds.py, fix 3): FINN's
float32 streamlining can put a threshold within rounding of an integer on the wrong side; with
the parameters in float64 the integer thresholds equal a brute-force reference computed in
50-digit decimal arithmetic over the whole integer input range."""

from __future__ import annotations

from decimal import Decimal, getcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fewerbits.compat.finn import thresholds as ft

EPS = 1e-5  # BatchNorm epsilon (PyTorch's default)
F32 = np.float32


@pytest.fixture(scope="module")
def finn(tmp_path_factory):
    from fewerbits.compat.finn.env import prepare_finn

    prepare_finn(tmp_path_factory.mktemp("finn"))
    from finn.builder.build_dataflow_config import DataflowBuildConfig

    return DataflowBuildConfig(
        output_dir=str(tmp_path_factory.mktemp("out")),
        synth_clk_period_ns=10.0,
        generate_outputs=[],
        verify_steps=[],
    )


def bn_graph(s, mean, var, gamma, beta, thresholds, bits: int, lo: int):
    """The float graph step_qonnx_to_finn makes of an integer accumulator ``x`` (INT10) scaled by
    ``s``, a BatchNorm and an activation quantizer: Mul, BatchNormalization, MultiThreshold."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper

    c = len(mean)
    nodes = [
        helper.make_node("Mul", ["x", "s"], ["a"]),
        helper.make_node("BatchNormalization", ["a", "g", "b", "m", "v"], ["bn"], epsilon=EPS),
        helper.make_node(
            "MultiThreshold",
            ["bn", "t"],
            ["y"],
            domain="qonnx.custom_op.general",
            out_dtype=f"INT{bits + 1}",
            out_bias=float(lo),
        ),
    ]
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, c]) for n in ("x", "y")]
    m = ModelWrapper(helper.make_model(helper.make_graph(nodes, "bn", vi[:1], vi[1:])))
    inits = {"s": s, "g": gamma, "b": beta, "m": mean, "v": var, "t": np.tile(thresholds, (c, 1))}
    for k, v in inits.items():
        m.set_initializer(k, np.asarray(v, F32))
    m.set_tensor_datatype("x", DataType["INT10"])
    return m


def streamlined_levels(model, cfg, exact: bool, tie: str, lo: int, xs):
    """FINN's streamlining (with the float64 step or without), the integer-threshold fix, and
    the resulting output level of every integer ``xs`` per channel."""
    from finn.builder.build_dataflow_steps import step_streamline

    if exact:
        model = ft.step_fewerbits_float64_params(model)
    model = step_streamline(model, cfg)
    model, _ = ft.fix_thresholds(model, [{"tie": tie, "min_int": lo}])
    (mt,) = model.get_nodes_by_op_type("MultiThreshold")
    assert mt.input[0] == model.graph.input[0].name, (
        "streamlining must absorb everything into the thresholds"
    )
    t = model.get_initializer(mt.input[1])
    assert t.dtype == np.float32 and np.array_equal(t, np.round(t))
    return (xs[None, :, None] >= t[:, None, :]).sum(-1) + lo


def reference_levels(s, mean, var, gamma, beta, q, xs, bits: int, lo: int):
    """clip(round_half_even(BN(x * s) / q)) for every integer x, in 50-digit decimals (the
    float32 parameters are exact rationals; only the square root is rounded, at 1e-50)."""
    getcontext().prec = 50

    def d(v) -> Decimal:
        return Decimal(float(v))

    out = []
    for c in range(len(mean)):
        sd = (d(var[c]) + d(F32(EPS))).sqrt()
        row = []
        for x in xs:
            y = ((Decimal(int(x)) * d(s) - d(mean[c])) / sd * d(gamma[c]) + d(beta[c])) / d(q)
            row.append(
                min(max(int(y.to_integral_value(rounding="ROUND_HALF_EVEN")), lo), lo + bits)
            )
        out.append(row)
    return np.array(out)


def test_threshold_391_000005(finn):
    """The case seen on Brevitas' TFC-w1a1: a sign activation after BatchNorm whose exact
    threshold is 391.000005 on the integer accumulator. FINN's float32 arithmetic gives 391.0,
    which the integer fix (rightly, for a float32 tie) keeps as 391; the exact answer is 392:
    x = 391 is below the threshold."""
    a = 1 / np.sqrt(2.0 + float(F32(EPS)))
    beta = F32(-5e-6 * a)  # threshold x* = mean - beta / A = 391 + 5e-6
    args = (F32(1.0), [F32(391.0)], [F32(2.0)], [F32(1.0)], [beta])
    xs = np.arange(380, 400)
    want = (xs >= 392).astype(int)[None, :]
    x_star = 391 - Decimal(float(beta)) * (Decimal(2.0) + Decimal(float(F32(EPS)))).sqrt()
    assert Decimal(391) < x_star < Decimal("391.00001")
    old = streamlined_levels(bn_graph(*args, [0.0], 1, 0), finn, False, "up", 0, xs)
    assert not np.array_equal(old, want), "float32 streamlining no longer loses this threshold"
    new = streamlined_levels(bn_graph(*args, [0.0], 1, 0), finn, True, "up", 0, xs)
    assert np.array_equal(new, want)


@settings(max_examples=25, deadline=None, database=None, derandomize=True)
@given(
    seed=st.integers(0, 2**31),
    bits=st.sampled_from([2, 3]),
    signed=st.booleans(),
    s_pow2=st.booleans(),
)
def test_random_batchnorm_thresholds_equal_brute_force(finn, seed, bits, signed, s_pow2):
    """Random BatchNorm statistics (float32, as Brevitas stores them), a float or power-of-two
    input scale, a float output scale: the built integer function equals the exact one on every
    integer input of INT10, on every channel, ties (round-half-even) included."""
    rng = np.random.default_rng(seed)
    c = 6
    s = F32(2.0 ** rng.integers(-3, 2)) if s_pow2 else F32(rng.uniform(0.01, 0.5))
    mean = rng.uniform(-20, 20, c).astype(F32)
    var = rng.uniform(0.05, 50, c).astype(F32)
    gamma = (rng.uniform(0.1, 3, c) * rng.choice([-1, 1], c)).astype(F32)
    beta = rng.uniform(-2, 2, c).astype(F32)
    q = F32(rng.uniform(0.05, 0.6))
    levels = 2**bits - 1
    lo = -(2 ** (bits - 1)) if signed else 0
    t = ((lo + np.arange(levels) + 0.5) * q).astype(F32)  # FINN's half steps
    xs = np.arange(-512, 512)
    # negative gamma flips the comparison: FINN refuses those for standalone thresholds, the
    # channel is then checked on a graph without it
    keep = gamma > 0
    if not keep.any():
        return
    args = (s, mean[keep], var[keep], gamma[keep], beta[keep])
    got = streamlined_levels(bn_graph(*args, t, levels, lo), finn, True, "even", lo, xs)
    want = reference_levels(*args, q, xs, levels, lo)
    assert np.array_equal(got, want), np.argwhere(got != want)[:5]
