"""Node-level Verilator simulation of FINN's RTL layers over randomised configurations.

Every case builds a single-node graph with FINN's own custom op, runs FINN's specialisation and
code generation, compiles the generated Verilog with Verilator and compares every output word
(random valid/ready stalls) with FINN's Python execution, bit-exact. One compile per case; the
configurations are drawn from a seeded generator (FEWERBITS_RTLSIM_SEED to vary them).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import rtlsim_graphs as rg
from rtlsim_graphs import rtlsim_cache  # noqa: F401 - session fixture

SEED = int(os.environ.get("FEWERBITS_RTLSIM_SEED", "6"))

CASES = {
    "thresholding-unsigned": lambda r: rg.thresholding(r, signed=False),
    "thresholding-signed": lambda r: rg.thresholding(r, signed=True),
    "mvau-uint-dsp48e1": lambda r: rg.mvau(r, signed_act=False, narrow_part=True),
    "mvau-int-dsp48e2": lambda r: rg.mvau(r, signed_act=True, narrow_part=False),
    "dwc": rg.dwc,
    "fmpadding": rg.fmpadding,
    "swg": rg.swg,
    "fifo": rg.fifo,
}


def test_packing_matches_finn_driver_packing(tmp_path):
    """Our vectorised packing == finn.util.data_packing (the driver's), both directions."""
    from fewerbits.hw.rtlsim import packing
    from qonnx.core.datatype import DataType

    from fewerbits.compat.finn.env import prepare_finn

    prepare_finn(tmp_path / "finn")
    from finn.util.data_packing import finnpy_to_packed_bytearray, packed_bytearray_to_finnpy

    rng = np.random.default_rng(0)
    for name in ["UINT1", "UINT3", "INT4", "INT7", "UINT8", "INT17", "BIPOLAR", "INT32"]:
        dt = DataType[name]
        for elems in (1, 3, 16):
            if dt.name == "BIPOLAR":
                x = rng.choice([-1.0, 1.0], size=(5, 2, elems))
            else:
                x = rng.integers(int(dt.min()), int(dt.max()) + 1, size=(5, 2, elems))
            x = x.astype(np.float32)
            ref = finnpy_to_packed_bytearray(x, dt, reverse_inner=True, reverse_endian=True)
            nbytes = ref.shape[-1]
            ours = packing.pack(x, dt, nbytes)
            assert np.array_equal(ours, ref.reshape(-1, nbytes)), (name, elems)
            back = packing.unpack(ours, dt, elems).reshape(x.shape)
            assert np.array_equal(back, x)
            ref_back = packed_bytearray_to_finnpy(
                ref, dt, x.shape, reverse_endian=True, reverse_inner=True
            )
            assert np.array_equal(back, ref_back)


@pytest.mark.usefixtures("rtlsim_cache")
@pytest.mark.parametrize("case", list(CASES))
def test_rtl_node_matches_python(case, tmp_path):
    from fewerbits.hw.rtlsim.sim import simulate_node

    rng = np.random.default_rng([SEED, list(CASES).index(case)])
    model, part, desc = CASES[case](rng)
    model = rg.codegen(model, part, tmp_path / "finn")
    node = model.graph.node[0]
    assert node.op_type.endswith("_rtl"), f"{case}: FINN chose {node.op_type} for {desc}"
    stall = (int(rng.integers(0, 60)), int(rng.integers(0, 60)))
    res = simulate_node(model, node, tmp_path / "sim", frames=5, stall=stall, seed=SEED)
    print(
        f"{case}: {desc}, stalls {stall}: {res.exact}/{res.outputs} exact, build {res.build_seconds} s"
    )
    assert res.status == "pass", f"{case} ({desc}): {res.reason}"
    assert res.outputs > 0 and res.exact == res.outputs


def test_hls_node_listed_as_skipped(tmp_path):
    """An HLS layer is never simulated nor passed: skipped with the reason."""
    from fewerbits.hw.rtlsim.sim import simulate_node

    model, part, _ = rg.mvau(np.random.default_rng(1), signed_act=False, narrow_part=True)
    model.graph.node[0].attribute.pop(
        [a.name for a in model.graph.node[0].attribute].index("preferred_impl_style")
    )
    from onnx import helper

    model.graph.node[0].attribute.append(helper.make_attribute("preferred_impl_style", "hls"))
    model = rg.codegen(model, part, tmp_path / "finn")
    node = model.graph.node[0]
    assert node.op_type == "MVAU_hls"
    res = simulate_node(model, node, tmp_path / "sim")
    assert res.status == "skipped" and "Vitis HLS" in res.reason and res.exact == 0
