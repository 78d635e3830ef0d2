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
    "vvau-thresholds": lambda r: rg.vvau(r, fixed={"c": 6, "pe": 3}, thresholds=True),
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


def _assert_exact_with_stalls(model, node, rng, work: Path, label: str) -> None:
    """``node`` simulated for 4 frames with random input/output stalls (drawn from ``rng``)
    equals FINN's Python execution on every output."""
    from fewerbits.hw.rtlsim.sim import simulate_node

    stall = (int(rng.integers(0, 60)), int(rng.integers(0, 60)))
    res = simulate_node(model, node, work, frames=4, stall=stall, seed=SEED)
    print(f"{label}, stalls {stall}: {res.exact}/{res.outputs} exact")
    assert res.status == "pass", f"{label}: {res.reason}"
    assert res.outputs > 0 and res.exact == res.outputs


@pytest.mark.usefixtures("rtlsim_cache")
@pytest.mark.parametrize("case", list(CASES))
def test_rtl_lib_node_matches_python(case, tmp_path):
    rng = np.random.default_rng([SEED, list(CASES).index(case)])
    model, part, desc = CASES[case](rng)
    model = codegen(model, part, tmp_path / "finn")
    node = model.graph.node[0]
    assert node.op_type in rtl_lib.BASE_OP_TYPES, f"{case}: {node.op_type} for {desc}"
    if case.endswith("-bram"):
        from qonnx.custom_op.registry import getCustomOp

        assert getCustomOp(node).weight_memory_style() == "block", case
    _assert_exact_with_stalls(model, node, rng, tmp_path / "sim", f"{case} ({desc})")


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


def test_every_library_op_lists_the_modules_its_core_instantiates():
    """A core's ``core_files`` (the simulation and synthesis file lists, the IP-integrator TCL
    and the copies generate_hdl makes) define every module the core instantiates: the Vivado
    flow cannot run here, so a missing file (mvu_binary.sv uses thresholds_count.sv) would
    show only there, or in a build folder whose copies lack it."""
    import re

    from fewerbits.hw.rtl_lib.common import HDL_DIR, RtlLibOp

    inst_re = re.compile(r"^[ \t]*([A-Za-z_]\w*)\s*(?:#\s*\(|\s[A-Za-z_]\w*\s*\(\s*\.)", re.M)
    impls = {
        v
        for op in rtl_lib.OPS
        for v in vars(op).values()
        if isinstance(v, type) and issubclass(v, RtlLibOp) and v.core
    }
    assert len(impls) >= len(rtl_lib.OPS) - 1, impls  # (pool_max and pool_avg may share one)
    for impl in impls:
        text = "".join(re.sub(r"//[^\n]*", "", (HDL_DIR / f).read_text()) for f in impl.core_files)
        defined = set(re.findall(r"^\s*module\s+(\w+)", text, re.M))
        used = set(inst_re.findall(text))
        assert impl.core in defined, (impl.__name__, impl.core_files)
        assert used <= defined, (
            f"{impl.__name__}: {sorted(used - defined)} not in {impl.core_files}"
        )


def _passing_case(case: str, tmp_path: Path):
    """The configuration of node-test ``case`` code-generated and simulated (must pass; a
    cache hit when the node test ran): ``(model, node, FINN op instance, description)``."""
    from fewerbits.hw.rtlsim.sim import simulate_node
    from qonnx.custom_op.registry import getCustomOp

    rng = np.random.default_rng([SEED, list(CASES).index(case)])
    model, part, desc = CASES[case](rng)
    model = codegen(model, part, tmp_path / "finn")
    node = model.graph.node[0]
    ok = simulate_node(model, node, tmp_path / "ok", frames=4, seed=SEED)
    assert ok.status == "pass", ok.reason
    return model, node, getCustomOp(node), desc, ok


@pytest.mark.usefixtures("rtlsim_cache")
def test_vvau_mutated_weight_is_caught(tmp_path):
    """VVAUFabric_rtl: one weight changed in memblock.dat must disagree with Python (the
    configuration of the "vvau-simd-pe" case: the same compiled model)."""
    from fewerbits.hw.rtlsim.sim import simulate_node

    model, node, inst, desc, _ = _passing_case("vvau-simd-pe", tmp_path)
    _flip_hex_bit(Path(inst.get_nodeattr("code_gen_dir_ipgen")) / "memblock.dat", 0, 0)
    bad = simulate_node(model, node, tmp_path / "bad", frames=4, seed=SEED)
    assert bad.cache_hit and bad.status == "fail", f"weight change not caught ({desc})"


def _mutate_param(wrapper: Path, name: str, change) -> tuple[int, int]:
    """Replace the integer parameter ``name`` of the generated wrapper by ``change(value)``."""
    import re

    text = wrapper.read_text()
    m = re.search(rf"\.{name}\((\d+)\)", text)
    assert m, f"{name} not in {wrapper.name}"
    old = int(m.group(1))
    wrapper.write_text(text[: m.start(1)] + str(change(old)) + text[m.end(1) :])
    return old, change(old)


@pytest.mark.usefixtures("rtlsim_cache")
@pytest.mark.parametrize(
    "case,param,change",
    [("maxpool-a", "SIGNED", lambda v: 1 - v), ("avgpool-trunc", "SHIFT", lambda v: v + 1)],
)
def test_pool_wrong_config_is_caught(case, param, change, tmp_path):
    """The pools have no weights to mutate: the parameter the core's reduction depends on is
    changed in the generated wrapper (max-pool compared with the other signedness, the
    truncating average shifted one bit more); the recompiled node must disagree with Python
    (its node-test configuration: the unmutated model is a cache hit)."""
    from fewerbits.hw.rtlsim.sim import simulate_node

    model, node, inst, desc, _ = _passing_case(case, tmp_path)
    wrapper = Path(inst.get_nodeattr("code_gen_dir_ipgen"), inst.get_nodeattr("gen_top_module"))
    old, new = _mutate_param(wrapper.with_name(wrapper.name + "_wrapper.v"), param, change)
    bad = simulate_node(model, node, tmp_path / "bad", frames=4, seed=SEED)
    print(f"{case} {param} {old}->{new}: {bad.outputs - bad.exact}/{bad.outputs} wrong")
    assert not bad.cache_hit and bad.status == "fail", f"{param} {old}->{new} not caught ({desc})"


@pytest.mark.usefixtures("rtlsim_cache")
def test_vvau_mutated_threshold_is_caught(tmp_path):
    """VVAUFabric_rtl with embedded thresholds: channel 0's first threshold in thresholds.dat
    moved beyond every sum (above them if some channel-0 output passed it, else below): the
    same compiled model (cache hit) must then disagree with Python on channel 0."""
    from fewerbits.hw.rtlsim.sim import simulate_node

    case = "vvau-thresholds"
    model, node, inst, desc, ok = _passing_case(case, tmp_path)
    odt = inst.get_output_datatype()
    floor = -1 if odt.name == "BIPOLAR" else inst.get_nodeattr("ActVal")  # no threshold passed
    passed = bool((ok.outputs_array[..., 0] > floor).any())
    tw = inst.threshold_width()
    tfile = Path(inst.get_nodeattr("code_gen_dir_ipgen")) / "thresholds.dat"
    lines = tfile.read_text().split()
    extreme = 2 ** (tw - 2) if passed else -(2 ** (tw - 2))  # +-2**(A-1): never / always
    lines[0] = f"{extreme & ((1 << tw) - 1):0{len(lines[0])}x}"
    tfile.write_text("\n".join(lines) + "\n")
    bad = simulate_node(model, node, tmp_path / "bad", frames=4, seed=SEED)
    print(f"{case}: {desc}: {bad.outputs - bad.exact}/{bad.outputs} wrong")
    assert bad.cache_hit and bad.status == "fail", f"threshold change not caught ({desc})"


def test_absorbed_vvau_thresholds_route_to_library(tmp_path):
    """FINN's InferVectorVectorActivation absorbs the MultiThreshold after a depthwise MatMul
    into the VVAU (noActivation=0) -- what FINN's step_convert_to_hw does when
    standalone_thresholds is off; the build's rule routes that VVAU to VVAUFabric_rtl, on
    7-series and on Versal alike (FINN's VVAU_rtl implements no thresholds)."""
    prepare_finn(tmp_path)
    from finn.transformation.fpgadataflow.convert_to_hw.vector_vector_activation import (
        InferVectorVectorActivation,
    )
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    c, k = 4, (3, 3)
    rng = np.random.default_rng(0)
    w = np.zeros((k[0] * k[1] * c, c), dtype=np.float32)  # the lowered depthwise weights
    for ch in range(c):
        w[ch::c, ch] = rng.integers(-4, 4, size=k[0] * k[1])
    thr = np.sort(rng.integers(-20, 20, size=(c, 3)), axis=1).astype(np.float32)
    vi = helper.make_tensor_value_info
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["inp", "w"], ["acc"]),
            helper.make_node(
                "MultiThreshold",
                ["acc", "thr"],
                ["outp"],
                domain="qonnx.custom_op.general",
                out_dtype="UINT2",
                data_layout="NHWC",
            ),
        ],
        "dw",
        [vi("inp", TensorProto.FLOAT, [1, 2, 2, k[0] * k[1] * c])],
        [vi("outp", TensorProto.FLOAT, [1, 2, 2, c])],
        value_info=[vi("acc", TensorProto.FLOAT, [1, 2, 2, c])],
    )
    model = ModelWrapper(qonnx_make_model(g))
    model.set_initializer("w", w)
    model.set_initializer("thr", thr)
    model.set_tensor_datatype("inp", DataType["UINT4"])
    model.set_tensor_datatype("w", DataType["INT3"])
    model.set_tensor_datatype("outp", DataType["UINT2"])
    model.set_tensor_sparsity("w", {"dw": {"kernel_shape": list(k)}})
    model = model.transform(InferVectorVectorActivation())
    (node,) = model.graph.node
    assert node.op_type == "VVAU" and len(node.input) == 3
    for part in (rg.PART_7, "xcve2802-vsvh1760-2MP-e-S"):
        assert rtl_lib.rtl_lib_op(node, part) == "VVAUFabric_rtl", part
    routed = impl_style.route_to_rtl_lib(model, rg.PART_7)
    assert routed.graph.node[0].op_type == "VVAUFabric_rtl"


@pytest.mark.usefixtures("rtlsim_cache")
@pytest.mark.parametrize("fixed", [{"one_d": True, "k": 3, "s": 3}], ids=["1d-k3s3"])
def test_maxpool_after_finn_conversion(fixed, tmp_path):
    """finn-plus 1.6.1 has no StreamingMaxPool: FINN's InferPool turns a MaxPool with kernel ==
    stride (what upstream FINN's InferStreamingMaxPool took, 2-D and 1-D) into a depthwise
    window generator + Pool, which the build's rule makes MaxPool_rtl; the pool node, folded
    at PE < channels (FINN's depthwise window order on its input), equals FINN's Python.
    The 1-D case here (2-D k2s2: ``{"one_d": False, "k": 2, "s": 2}``, checked by hand, and
    in the CNV net test above)."""

    rng = np.random.default_rng([SEED, 7, int(fixed["one_d"])])
    prepare_finn(tmp_path / "finn")
    model, part, desc = rg.maxpool_converted(rng, fixed)
    model = codegen(model, part, tmp_path / "finn")
    swg, pool = model.graph.node
    assert (swg.op_type, pool.op_type) == ("ConvolutionInputGenerator_rtl", "MaxPool_rtl"), desc
    _assert_exact_with_stalls(model, pool, rng, tmp_path / "sim", desc)


@pytest.mark.usefixtures("rtlsim_cache")
def test_build_keeps_the_hdl_it_was_generated_with(tmp_path):
    """A library op's code generation copies its core files into the node's code-gen folder and
    every file list (simulation, synthesis, IP-integrator TCL) names those copies: a build made
    by an older fewerbits simulates the HDL it was made with, not this package's hdl/ (before,
    a MobileNet build whose pool module was later renamed failed with Verilator's MODMISSING)."""
    from fewerbits.hw.rtl_lib.common import HDL_DIR
    from fewerbits.hw.rtlsim.sim import simulate_node
    from fewerbits.hw.sim import RtlSimError
    from qonnx.custom_op.registry import getCustomOp

    rng = np.random.default_rng([SEED, list(CASES).index("maxpool-a")])
    model, part, _ = CASES["maxpool-a"](rng)
    model = codegen(model, part, tmp_path / "finn")
    node = model.graph.node[0]
    inst = getCustomOp(node)
    gen = Path(inst.get_nodeattr("code_gen_dir_ipgen"))
    listed = [Path(f) for f in inst.get_rtl_file_list(abspath=True)]
    for name in inst.core_files:
        assert (gen / name).read_bytes() == (HDL_DIR / name).read_bytes()
        assert gen / name in listed and HDL_DIR / name not in listed
    (gen / inst.core_files[0]).write_text("module broken_on_purpose(;\n")
    with pytest.raises(RtlSimError):
        simulate_node(model, node, tmp_path / "sim", frames=2, seed=SEED)
