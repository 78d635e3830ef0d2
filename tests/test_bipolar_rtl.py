"""A BIPOLAR-input MLP with 2-bit weights and a bipolar output (FINN's cybersecurity MLP,
benchmarks/external_models.py, at 40 inputs and 16 hidden units) builds all-RTL and passes
every verification level, rtl_stitched included: the input is typed INT2
(hw/build/impl_style.py ``bipolar_input_as_int2``) and the bipolar output quantizer is a
standalone Thresholding (fewerbits/compat/finn/build.py ``convert_bipolar_thresholds``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fewerbits.export.exporter import export, random_inputs
from fewerbits.hw.build import build
from fewerbits.hw.build import steps as S
from fewerbits.hw.rtlsim.sim import BuildGraphs

from fewerbits.core.artifacts import BuildDir
from fewerbits.core.config import BuildConfig
from fewerbits.verify import verify_directory

FACTORIES = Path(__file__).resolve().parents[1] / "benchmarks" / "external_models.py"
SHAPE = (40,)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bipolar")
    export({"factory": f"{FACTORIES}:cybsec_mlp_small"}, d / "export", SHAPE, input_dtype="BIPOLAR")
    res = build(d / "export" / "model.onnx", d / "b", BuildConfig(until="codegen"), progress=False)
    assert res.info.get("bipolar_input_as") == "INT2"
    assert "standalone_thresholds_fallback" not in res.info
    return d


def test_bipolar_input_mlp_all_rtl_and_every_level_passes(built):
    ops = [n.op_type for n in BuildGraphs(built / "b").nodes]
    assert ops.count("MVAU_rtl") == 4 and ops.count("Thresholding_rtl") == 4, ops
    assert all(o.endswith("_rtl") for o in ops), ops

    x = random_inputs("BIPOLAR", SHAPE, 12, seed=3)
    assert set(np.unique(x)) == {-1.0, 1.0}
    np.save(built / "x.npy", x)
    out = verify_directory(built / "b", built / "x.npy", progress=False, skip=("rtl_nodes",))
    by = {lv["name"]: lv for lv in out["levels"]}
    for lv in out["levels"]:
        assert lv["status"] in ("pass", "skipped"), lv
    for name in ("finn_onnx", "streamlined", "hw_graph", "folded_hw_graph", "rtl_stitched"):
        assert by[name]["status"] == "pass", by[name]


def test_int2_input_rewrite_is_exact_and_finn_still_refuses_bipolar_thresholds(built):
    """The graph before and after the INT2 typing computes the same integers on every
    bipolar input (all 2**k patterns of the used inputs' first k); FINN's standalone
    Thresholding conversion still refuses the bipolar output (the compat workaround's reason)."""
    from finn.transformation.fpgadataflow.convert_to_hw.thresholding import (
        InferThresholdingLayer,
    )
    from finn.util.exception import FINNUserError
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    bd = BuildDir(built / "b")
    before = ModelWrapper(str(bd.model_after(S.FIX_THRESHOLDS)))
    after = ModelWrapper(str(bd.model_after(S.BIPOLAR_INPUT)))
    iname = after.graph.input[0].name
    assert before.get_tensor_datatype(iname) == DataType["BIPOLAR"]
    assert after.get_tensor_datatype(iname) == DataType["INT2"]
    bits = (np.arange(256)[:, None] >> np.arange(8)) & 1
    x = np.tile(random_inputs("BIPOLAR", SHAPE, 1, seed=5), (256, 1))
    x[:, :8] = 2 * bits - 1
    oname = after.graph.output[0].name
    for xi in x:
        feed = {iname: xi[None].astype(np.float32)}
        y0 = execute_onnx(before, feed)[oname]
        y1 = execute_onnx(after, feed)[oname]
        assert np.array_equal(y0, y1) and set(np.unique(y1)) <= {-1.0, 1.0}

    with pytest.raises(FINNUserError, match="out_scale must be 1"):
        after.transform(InferThresholdingLayer())
