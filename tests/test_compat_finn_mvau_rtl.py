"""fewerbits/compat/finn/mvau_rtl.py: FINN's MVAU_rtl with SIMD == MW overflows its output
queue under backpressure. The first test shows the bug is still there (it fails once FINN
fixes it: then drop the workaround); the second that --fit and the folding check avoid it."""

from __future__ import annotations

import numpy as np
import pytest
import rtlsim_graphs as rg


def _mvau(simd_eq_mw: bool):
    model, part, _ = rg.mvau(np.random.default_rng(2), False, True)
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.general import GiveUniqueNodeNames

    inst = getCustomOp(model.graph.node[0])
    mw = inst.get_nodeattr("MW")
    inst.set_nodeattr("SIMD", mw if simd_eq_mw else 1)
    inst.set_nodeattr("PE", 1)
    model = model.transform(SpecializeLayers(part)).transform(GiveUniqueNodeNames())
    assert model.graph.node[0].op_type == "MVAU_rtl"
    return model, part


def test_finn_mvau_rtl_simd_equal_mw_still_overflows_under_backpressure(tmp_path, hermetic_env):
    from fewerbits.hw.rtlsim.sim import simulate_node
    from fewerbits.hw.sim import RtlSimError

    model, part = _mvau(True)
    model = rg.codegen(model, part, tmp_path)
    with pytest.raises(RtlSimError, match="Overflowing output queue"):
        simulate_node(model, model.graph.node[0], tmp_path / "sim", frames=4, stall=(0, 80))


def test_fit_and_the_folding_check_avoid_simd_equal_mw(tmp_path):
    from fewerbits.compat.finn.env import prepare_finn

    prepare_finn(tmp_path / "finn")
    from fewerbits.hw.folding import _node_options, illegal_folding
    from qonnx.custom_op.registry import getCustomOp

    model, _ = _mvau(True)
    node = model.graph.node[0]
    mw = getCustomOp(node).get_nodeattr("MW")
    assert all(o["SIMD"] != mw for o in _node_options(model, node))
    assert any("overflows its output queue" in b for b in illegal_folding(model))
    ok, _ = _mvau(False)
    assert illegal_folding(ok) == []
