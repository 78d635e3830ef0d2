"""fewerbits/compat/finn/build.py ``split_full_simd_mvau_rtl``: FINN's MVAU_rtl (finn-rtllib
mvu_vvu_axi.sv, finn-plus 1.6.1) with SIMD == MW loses outputs under output back-pressure
(its queue assertion stops Verilator); the workaround's folding (SIMD < MW) streams every
output. Fails if the workaround is removed while the upstream bug is still there."""

from __future__ import annotations

import numpy as np
import pytest
import rtlsim_graphs as rg
from fewerbits.hw.sim.protocol import RtlSimError
from rtlsim_graphs import rtlsim_cache  # noqa: F401 - session fixture

from fewerbits.compat.finn.build import split_full_simd_mvau_rtl

STALL = (0, 60)  # a slow consumer: long output back-pressure


def _mvau(simd: int):
    """A pointwise-conv-like MVAU_rtl (as in tests/test_depthwise.py's net): MW = 8, 8-bit
    activations and weights, on xc7z020."""
    w = np.random.default_rng(0).integers(-127, 128, size=(8, 4))
    node = rg._node(
        "MVAU",
        ["inp", "w"],
        MW=8,
        MH=4,
        SIMD=simd,
        PE=1,
        inputDataType="UINT8",
        weightDataType="INT8",
        outputDataType="INT20",
        accDataType="INT20",
        noActivation=1,
        binaryXnorMode=0,
        mem_mode="internal_decoupled",
        resType="dsp",
        numInputVectors=[1, 16],
    )
    return rg._model(node, (1, 16, 8), (1, 16, 4), "UINT8", {"w": (w, "INT8")}, "INT20")


@pytest.mark.usefixtures("rtlsim_cache")
def test_full_simd_mvau_rtl_overflows_and_the_split_folding_does_not(tmp_path):
    from fewerbits.hw.rtlsim.sim import simulate_node

    full = rg.codegen(_mvau(8), rg.PART_7, tmp_path / "full")
    assert full.graph.node[0].op_type == "MVAU_rtl"
    with pytest.raises(RtlSimError, match="exit"):  # upstream: the queue assertion fires
        simulate_node(full, full.graph.node[0], tmp_path / "s_full", frames=8, stall=STALL)
    _, changed = split_full_simd_mvau_rtl(full)
    assert changed == [full.graph.node[0].name]
    split = rg.codegen(_mvau(4), rg.PART_7, tmp_path / "split")  # SIMD = MW / 2, as the fix
    res = simulate_node(split, split.graph.node[0], tmp_path / "s_split", frames=8, stall=STALL)
    assert res.status == "pass" and res.exact == res.outputs > 0, res.reason
