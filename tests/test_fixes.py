"""The FINN conversion fixes (fewerbits/compat/finn/thresholds.py): each test shows the bug
with the fix steps removed from the real flow and its absence with them."""

from __future__ import annotations

import numpy as np
import pytest
import verify_nets as vn
from hypothesis import given, settings
from hypothesis import strategies as st

from fewerbits.compat.finn import thresholds as ft

FINN_LEVELS = ("finn_onnx", "streamlined", "hw_graph", "folded_hw_graph")


def _without_fix(monkeypatch):
    from fewerbits.hw.build import steps

    monkeypatch.setattr(
        steps, "SOFTWARE_STEPS", [s for s in steps.SOFTWARE_STEPS if s not in ft.STEPS]
    )


def _run(tmp, model, shape, x, until="codegen"):
    e = vn.export_factory_model(model, shape, tmp, samples=x)
    return vn.verify(vn.build(e, until=until), x)


@pytest.fixture(scope="module")
def tie_net():
    """w2a2 MLP without BatchNorm, power-of-two scales: accumulators hit exact ties."""
    m = vn.mlp(2, 2, in_features=64, hidden=(16, 16), bn=False)
    x = np.random.default_rng(0).integers(0, 256, (30, 1, 8, 8)).astype(np.float32)
    vn.calibrate(m, x)
    ties = vn.craft_first_layer_ties(m, (1, 8, 8), 2)
    return m, np.concatenate([ties, x])


def test_ties_fail_without_fix(tie_net, tmp_path, monkeypatch):
    model, x = tie_net
    assert vn.count_ties(model, x)[0] >= 16, "crafted inputs must hit first-layer ties"
    _without_fix(monkeypatch)
    res = _run(tmp_path, model, (1, 8, 8), x, until="estimates")
    lv = vn.levels_by_name(res)
    assert lv["qonnx"]["status"] == "pass" and lv["qonnx"]["bit_exact"] == len(x)
    for name in FINN_LEVELS:
        assert lv[name]["status"] == "fail", vn.dump(res)
    assert lv["finn_onnx"]["node"].startswith("MultiThreshold")
    assert res["summary"].startswith("verify FAILED at level finn_onnx, first diverging node")


def test_ties_pass_with_fix(tie_net, tmp_path):
    model, x = tie_net
    res = _run(tmp_path, model, (1, 8, 8), x)
    lv = vn.levels_by_name(res)
    for name in ("qonnx", "onnxruntime", *FINN_LEVELS):
        assert lv[name]["status"] == "pass", vn.dump(res)
        assert lv[name]["bit_exact"] == len(x), vn.dump(res)
    assert res["all_passed"]


@pytest.fixture(scope="module")
def xnor_net():
    """w1a1 (XNOR-popcount) MLP whose BatchNorm saturates two channels, as trained nets do."""
    m = vn.mlp(1, 1, in_features=64, hidden=(32, 32), bn=True, dyadic=False)
    x = np.random.default_rng(1).integers(0, 256, (30, 1, 8, 8)).astype(np.float32)
    return m, x


def test_xnor_build_fails_without_fix(xnor_net, tmp_path, monkeypatch):
    from fewerbits.hw.build import BuildError

    model, x = xnor_net
    _without_fix(monkeypatch)
    with pytest.raises(BuildError, match="step_minimize_bit_width"):
        _run(tmp_path, model, (1, 8, 8), x)


def test_xnor_builds_through_codegen_with_fix(xnor_net, tmp_path):
    model, x = xnor_net
    res = _run(tmp_path, model, (1, 8, 8), x)
    assert res["all_passed"], vn.dump(res)
    assert all(vn.levels_by_name(res)[n]["bit_exact"] == len(x) for n in ("qonnx", *FINN_LEVELS))
    # the XNOR-popcount layers are this project's RTL (hw/rtl_lib), with FINN's weight file
    gen = list((tmp_path / "build" / "finn_tmp").glob("code_gen_ipgen_MVAUBinary_rtl_*"))
    assert gen and all((d / "memblock.dat").stat().st_size > 0 for d in gen), gen


@pytest.mark.parametrize("mode", ["FLOOR", "CEIL"])
def test_floor_ceil_rounding(mode, tmp_path, monkeypatch):
    """FINN ignores rounding_mode: a FLOOR/CEIL activation Quant is built as round-half-up;
    the fix refuses such graphs (one line naming the node) instead of building them wrong.
    (Brevitas 0.13.4 exports its activation quantizers as ROUND, so the QONNX graph is
    edited to the other mode; the reference is then qonnx's execution of that graph.)"""
    from fewerbits.export.exporter import export_qonnx
    from fewerbits.hw.build import BuildError, build
    from qonnx.core.modelwrapper import ModelWrapper

    from fewerbits.core.artifacts import BuildDir, ExportDir
    from fewerbits.core.config import BuildConfig
    from fewerbits.verify.levels.finn_graphs import FoldedHwGraphLevel
    from fewerbits.verify.levels.qonnx import QonnxLevel

    m = vn.mlp(3, 3, in_features=16, hidden=(8,), bn=False)
    x = np.random.default_rng(2).integers(0, 256, (40, 1, 4, 4)).astype(np.float32)
    vn.calibrate(m, x)
    export_qonnx(m, (1, 4, 4), tmp_path / "model.onnx")
    w = ModelWrapper(str(tmp_path / "model.onnx"))
    relu_quants = [n for n in w.graph.node if n.op_type == "Quant" and "Relu" in n.input[0]]
    assert relu_quants
    for n in relu_quants:
        for att in n.attribute:
            if att.name == "rounding_mode":
                att.s = mode.encode()
    w.save(str(tmp_path / "model.onnx"))
    ref = QonnxLevel(ExportDir(tmp_path)).run(x)

    def folded(d):
        build(tmp_path / "model.onnx", d, BuildConfig(until="estimates"), progress=False)
        return FoldedHwGraphLevel(None, BuildDir(d)).run(x)

    # with the fix steps: refused with one line naming the node, nothing wrong gets built
    with pytest.raises(BuildError, match=f"Quant node .* rounding_mode {mode}"):
        folded(tmp_path / "fix")
    # without them FINN silently builds round-half-up
    _without_fix(monkeypatch)
    assert not np.array_equal(folded(tmp_path / "nofix").reshape(ref.shape), ref)


# ---- the threshold arithmetic itself, exhaustively on integer inputs -------------------------

_MODES = {
    "even": np.round,
    "away": lambda v: np.sign(v) * np.floor(np.abs(v) + 0.5),
    "zero": lambda v: np.sign(v) * np.ceil(np.abs(v) - 0.5),
}


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(
    tie=st.sampled_from(sorted(_MODES)),
    bits=st.integers(1, 4),
    signed=st.booleans(),
    a_exp=st.integers(-4, 2),
    b_num=st.integers(-64, 64),
    s_exp=st.integers(-3, 1),
)
def test_exact_thresholds_reproduce_rounding(tie, bits, signed, a_exp, b_num, s_exp):
    """For integer x, count(x >= exact_thresholds) + lowest level == clip(round_mode((x*a+b)/s))
    where FINN's thresholds are the half steps ((level + 1/2) * s - b) / a."""
    a, b, s = 2.0**a_exp, b_num / 16.0, 2.0**s_exp
    lo = -(2 ** (bits - 1)) if signed else 0
    hi = lo + 2**bits - 1
    t = (((lo + np.arange(hi - lo) + 0.5) * s - b) / a)[None, :].astype(np.float32)
    fixed = ft.exact_thresholds(t, tie, lo)
    x = np.arange(-300, 301, dtype=np.float64)
    got = (x[:, None] >= fixed[0][None, :]).sum(axis=1) + lo
    want = np.clip(_MODES[tie]((x * a + b) / s), lo, hi)
    assert np.array_equal(got, want)
    plain = (x[:, None] >= t[0][None, :]).sum(axis=1) + lo  # FINN's own `>=` thresholds
    if tie == "even" and not np.array_equal(plain, want):
        assert np.any((x * a + b) / s % 1 == 0.5), "FINN may only differ at ties"
