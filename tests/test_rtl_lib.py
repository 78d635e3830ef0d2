"""fewerbits' RTL layer library (hw/rtl_lib) at node level, on Verilator.

Every case builds a single-node graph with FINN's own base op (as FINN's conversion makes it),
lets the build's implementation-style rule pick this library's op, runs FINN's code
generation (PrepareIP), compiles the generated Verilog and compares every output (random
valid/ready stalls) with FINN's Python execution of the same node, bit-exact. Mutations (one
weight bit, one threshold changed in the generated memory files) must be caught.
Configurations come from a seeded generator (FEWERBITS_RTLSIM_SEED to vary them).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rtlsim_graphs as rg
from fewerbits.hw import rtl_lib
from fewerbits.hw.build import impl_style
from fewerbits.hw.driver.finn_nodes import base_op_type
from rtlsim_graphs import rtlsim_cache  # noqa: F401 - session fixture

from fewerbits.compat.finn.env import prepare_finn

SEED = int(os.environ.get("FEWERBITS_RTLSIM_SEED", "6"))

CASES = {
    "mvau-binary-popcount": lambda r: rg.mvau_binary(r, thresholds=False),
    "mvau-binary-thresholds-a": lambda r: rg.mvau_binary(r, thresholds=True),
    "mvau-binary-thresholds-b": lambda r: rg.mvau_binary(r, thresholds=True),
    # 48 lanes per PE: three 18-lane blocks of the compressor tree, weights in LUTs (depth 4)
    "mvau-binary-wide": lambda r: rg.mvau_binary(
        r, thresholds=True, fixed={"mw": 96, "mh": 4, "simd": 48, "pe": 2}
    ),
    # 128 weight words: block RAM (weight_stream.sv's registered read)
    "mvau-binary-bram": lambda r: rg.mvau_binary(
        r, thresholds=True, fixed={"mw": 64, "mh": 4, "simd": 2, "pe": 1}
    ),
    "maxpool-a": rg.maxpool,
    "maxpool-b": rg.maxpool,
    "label-select": rg.label_select,
    "vvau": rg.vvau,  # more configurations: FEWERBITS_RTLSIM_SEED=1,2,...
    "vvau-simd-pe": lambda r: rg.vvau(r, fixed={"c": 4, "k": [3, 3], "pe": 2, "simd": 3}),
    "vvau-bram": lambda r: rg.vvau(r, fixed={"c": 8, "k": [3, 3], "pe": 1, "simd": 1}),  # 72 words
    "global-acc-pool-signed": lambda r: rg.global_acc_pool(r, signed=True),
    "avgpool-trunc": rg.avgpool_trunc,
}


def codegen(model, part: str, work: Path):
    """The build's rule (hw/build/impl_style: library ops first, then FINN's
    SpecializeLayers), then FINN's PrepareIP."""
    prepare_finn(work)
    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.transformation.general import GiveUniqueNodeNames

    model = impl_style.route_to_rtl_lib(model, part)
    model = model.transform(SpecializeLayers(part))
    model = model.transform(GiveUniqueNodeNames())
    return model.transform(PrepareIP(part, rg.CLK_NS))


@pytest.mark.usefixtures("rtlsim_cache")
@pytest.mark.parametrize("case", list(CASES))
def test_rtl_lib_node_matches_python(case, tmp_path):
    from fewerbits.hw.rtlsim.sim import simulate_node

    rng = np.random.default_rng([SEED, list(CASES).index(case)])
    model, part, desc = CASES[case](rng)
    model = codegen(model, part, tmp_path / "finn")
    node = model.graph.node[0]
    assert node.op_type in rtl_lib.BASE_OP_TYPES, f"{case}: {node.op_type} for {desc}"
    if case.endswith("-bram"):
        from qonnx.custom_op.registry import getCustomOp

        assert getCustomOp(node).weight_memory_style() == "block", case
    stall = (int(rng.integers(0, 60)), int(rng.integers(0, 60)))
    res = simulate_node(model, node, tmp_path / "sim", frames=4, stall=stall, seed=SEED)
    print(f"{case}: {desc}, stalls {stall}: {res.exact}/{res.outputs} exact")
    assert res.status == "pass", f"{case} ({desc}): {res.reason}"
    assert res.outputs > 0 and res.exact == res.outputs


@pytest.mark.usefixtures("rtlsim_cache")
def test_w1a1_cnv_with_maxpool_all_rtl_stitched(tmp_path):
    """A small CNV-style w1a1 net (conv, BN, sign, max-pool, conv, FC) through export and the
    real build: every layer RTL (binary MVAUs and the max-pool from this library, the pool at
    PE < channels: FINN's depthwise window order), the stitched accelerator equal to FINN's
    folded graph on every frame, at FINN's estimated cycles/frame."""
    import verify_nets
    from fewerbits.hw.rtlsim.sim import BuildGraphs

    from fewerbits.core.artifacts import BuildDir
    from fewerbits.verify.levels.finn_graphs import FoldedHwGraphLevel
    from fewerbits.verify.levels.rtl import RtlStitchedLevel

    net = verify_nets.cnv(1, 1, channels=(8, 16), in_ch=3, size=12, dyadic=False, seed=3)
    export_dir = verify_nets.export_factory_model(net, (3, 12, 12), tmp_path / "net")
    build = BuildDir(verify_nets.build(export_dir, target_fps=20000))
    ops = {n.op_type for n in BuildGraphs(build.path).nodes}
    assert {"MVAUBinary_rtl", "MaxPool_rtl"} <= ops and all(o.endswith("_rtl") for o in ops)
    pool = next(n for n in BuildGraphs(build.path).nodes if n.op_type == "MaxPool_rtl")
    assert [a.i for a in pool.attribute if a.name == "PE"] != [8]  # PE < Channels
    x = np.random.default_rng(SEED).integers(0, 256, (12, 3, 12, 12)).astype(np.float32)
    stitched = RtlStitchedLevel(None, build)
    y_rtl, y_finn = stitched.run(x), FoldedHwGraphLevel(None, build).run(x)
    assert np.array_equal(y_rtl, y_finn)
    t = stitched.numbers(None)
    assert t["cycles_per_frame"] == t["estimate_cycles_per_frame"], t


def _flip_hex_bit(path: Path, line: int, bit: int) -> None:
    lines = path.read_text().split()
    v = int(lines[line], 16) ^ (1 << bit)
    lines[line] = f"{v:0{len(lines[line])}x}"
    path.write_text("\n".join(lines) + "\n")


def _built(tmp_path: Path, thresholds: bool, tag: str):
    from fewerbits.hw.rtlsim.sim import simulate_node
    from qonnx.custom_op.registry import getCustomOp

    rng = np.random.default_rng([SEED, 99, int(thresholds)])
    model, part, desc = rg.mvau_binary(rng, thresholds=thresholds)
    model = codegen(model, part, tmp_path / f"finn_{tag}")
    node = model.graph.node[0]
    ok = simulate_node(model, node, tmp_path / f"{tag}0", frames=4, seed=SEED)
    assert ok.status == "pass", ok.reason
    return model, node, getCustomOp(node), desc


@pytest.mark.usefixtures("rtlsim_cache")
def test_mutated_weight_bit_is_caught(tmp_path):
    """One weight bit flipped in memblock.dat (popcount output: every vector sees it): the
    same compiled model (cache hit) must then disagree with Python."""
    from fewerbits.hw.rtlsim.sim import simulate_node

    model, node, inst, desc = _built(tmp_path, False, "w")
    _flip_hex_bit(Path(inst.get_nodeattr("code_gen_dir_ipgen")) / "memblock.dat", 0, 0)
    bad = simulate_node(model, node, tmp_path / "w1", frames=4, seed=SEED)
    assert bad.cache_hit and bad.status == "fail", f"weight flip not caught ({desc})"


@pytest.mark.usefixtures("rtlsim_cache")
def test_mutated_threshold_is_caught(tmp_path):
    """Row 0's thresholds moved beyond any popcount in thresholds.dat: caught likewise."""
    from fewerbits.hw.rtlsim.sim import simulate_node

    model, node, inst, desc = _built(tmp_path, True, "t")
    tfile = Path(inst.get_nodeattr("code_gen_dir_ipgen")) / "thresholds.dat"
    lines = tfile.read_text().split()
    steps = len(lines) // inst.get_nodeattr("MH")  # thresholds of one row (row 0 first)
    lines[:steps] = [f"{inst.get_nodeattr('MW') + 1:0{len(lines[0])}x}"] * steps
    tfile.write_text("\n".join(lines) + "\n")
    bad = simulate_node(model, node, tmp_path / "t1", frames=4, seed=SEED)
    assert bad.cache_hit and bad.status == "fail", f"threshold change not caught ({desc})"


def test_impl_style_rule_routes_library_layers_and_keeps_hls_preference(tmp_path):
    """The build's rtl style turns binary MVAUs and max-pools into this library's ops, before
    FINN's specialize_layers; a node that asks for "hls" keeps FINN's HLS layer."""
    prepare_finn(tmp_path)
    from fewerbits.hw.build import impl_style
    from finn.builder.build_dataflow_config import DataflowBuildConfig
    from qonnx.custom_op.registry import getCustomOp

    cfg = DataflowBuildConfig(
        output_dir=str(tmp_path / "out"),
        synth_clk_period_ns=rg.CLK_NS,
        fpga_part=rg.PART_7,
        generate_outputs=[],
    )
    rng = np.random.default_rng(0)
    for make, op in ((rg.maxpool, "MaxPool_rtl"), (rg.mvau_binary, "MVAUBinary_rtl")):
        model = (make(rng) if make is rg.maxpool else make(rng, thresholds=True))[0]
        routed = impl_style.step_specialize_layers_rtl_lib(model, cfg)
        assert routed.graph.node[0].op_type == op
        assert base_op_type(op, routed.graph.node[0].domain)[0] == rtl_lib.BASE_OP_TYPES[op]
        model = (make(rng) if make is rg.maxpool else make(rng, thresholds=True))[0]
        getCustomOp(model.graph.node[0]).set_nodeattr("preferred_impl_style", "hls")
        kept = impl_style.step_specialize_layers_rtl_lib(model, cfg)
        assert kept.graph.node[0].op_type.endswith("_hls")


def test_every_library_op_has_a_base_op_and_folding_rule():
    assert set(rtl_lib.BASE_OP_TYPES) == {op.OP_TYPE for op in rtl_lib.OPS}
    assert set(rtl_lib.FOLDING_AS) == set(rtl_lib.BASE_OP_TYPES)
    for op in rtl_lib.OPS:
        assert base_op_type(op.OP_TYPE, rtl_lib.RTL_DOMAIN)[0] == rtl_lib.BASE_OP_TYPES[op.OP_TYPE]


@pytest.mark.usefixtures("rtlsim_cache")
def test_vvau_mutated_weight_is_caught(tmp_path):
    """VVAUFabric_rtl: one weight changed in memblock.dat must disagree with Python (the
    configuration of the "vvau-simd-pe" case: the same compiled model)."""
    from fewerbits.hw.rtlsim.sim import simulate_node
    from qonnx.custom_op.registry import getCustomOp

    case = "vvau-simd-pe"
    rng = np.random.default_rng([SEED, list(CASES).index(case)])
    model, part, desc = CASES[case](rng)
    model = codegen(model, part, tmp_path / "finn")
    node = model.graph.node[0]
    ok = simulate_node(model, node, tmp_path / "ok", frames=4, seed=SEED)
    assert ok.status == "pass", ok.reason
    _flip_hex_bit(Path(getCustomOp(node).get_nodeattr("code_gen_dir_ipgen")) / "memblock.dat", 0, 0)
    bad = simulate_node(model, node, tmp_path / "bad", frames=4, seed=SEED)
    assert bad.cache_hit and bad.status == "fail", f"weight change not caught ({desc})"
