"""The demo accelerator (all-RTL TFC w2a2) stitched into one Verilator model.

Checks: >= 100 frames bit-exact vs PyTorch, cycles/frame vs FINN's estimate, the packed-stream
API of the driver contract, the build cache, and a mutation (one threshold changed in a
generated .dat file) that must make the level fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rtlsim_graphs import rtlsim_cache  # noqa: F401 - session fixture

FRAMES = 120


@pytest.fixture(scope="session")
def demo_data(demo_run: Path):
    import torch
    from fewerbits.train.datasets import load_dataset
    from fewerbits.train.trainer import load_checkpoint

    model, _ = load_checkpoint(demo_run / "train")
    model.eval()
    x = load_dataset("mnist-5k").x_test[:FRAMES].astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    return x, ref


@pytest.fixture(scope="session")
def stitched_level(demo_run: Path, rtlsim_cache):  # noqa: F811
    from fewerbits.core.artifacts import BuildDir
    from fewerbits.verify.levels.rtl import RtlStitchedLevel

    return RtlStitchedLevel(None, BuildDir(demo_run / "build"))


@pytest.fixture(scope="session")
def stitched(demo_run: Path, rtlsim_cache):  # noqa: F811
    """The demo's stitched Verilator model, compiled (or taken from this run's cache)."""
    from fewerbits.hw.rtlsim.sim import Stitched

    sim = Stitched(demo_run / "build")
    sim.compile()
    return sim


def test_demo_build_is_all_rtl(demo_run: Path):
    from fewerbits.hw.rtlsim.sim import BuildGraphs

    g = BuildGraphs(demo_run / "build")
    ops = {n.op_type for n in g.nodes}
    assert ops >= {"Thresholding_rtl", "MVAU_rtl"}
    assert all(op.endswith("_rtl") for op in ops), ops
    assert g.skipped() == []
    # the float output scale stays outside the accelerator, in software
    parent_ops = [n.op_type for n in g.parent().graph.node]
    k = parent_ops.index("StreamingDataflowPartition")
    assert "Mul" in parent_ops[k + 1 :]


def test_stitched_bit_exact_vs_pytorch(stitched_level, demo_data, demo_run: Path):
    from conftest import finn_report

    from fewerbits.verify import run_ladder
    from fewerbits.verify.directory import section_numbers

    x, ref = demo_data
    assert stitched_level.available() is None
    [res] = run_ladder(ref, x, [stitched_level])
    assert res.status == "pass", res.reason
    assert res.samples == FRAMES and res.bit_exact == FRAMES
    nums = section_numbers([stitched_level], [res], "rtl")["rtl_stitched"]
    print(json.dumps(nums, indent=1))
    assert nums["frames"] == FRAMES and nums["bit_exact"] == FRAMES
    # steady state exactly FINN's estimate (slowest layer's cycles), read here from FINN's report
    perf = finn_report(demo_run / "build", "estimate_network_performance")
    assert nums["cycles_per_frame"] == nums["estimate_cycles_per_frame"] == perf["max_cycles"], nums
    assert nums["estimate_ratio"] == 1.0
    assert 0 < nums["latency_cycles"] and nums["frames_per_second"] > 0


def test_packed_api_matches_driver_packing(stitched, demo_data, demo_run: Path):
    """StitchedSimulator.run_packed on DMA-style buffers == the level's own execution."""
    from fewerbits.hw.rtlsim.api import StitchedSimulator
    from fewerbits.hw.rtlsim.verilator import RtlSimError

    sim = StitchedSimulator(demo_run / "build")
    assert sim.in_width_bits % 8 == 0 and sim.out_width_bits % 8 == 0
    from finn.util.data_packing import finnpy_to_packed_bytearray, packed_bytearray_to_finnpy

    x, _ = demo_data
    st = stitched
    mid = []
    st.graphs.run_with(x[:20], lambda m: (mid.append(m), st.run_dataflow(m))[1])
    folded = mid[0].reshape(20, *sim.ishape_folded[1:])
    packed = finnpy_to_packed_bytearray(folded, sim.idt, reverse_inner=True, reverse_endian=True)
    packed = packed.reshape(20, sim.in_words, sim.in_bytes_per_word)
    out = sim.run_packed(packed)
    assert out.shape == (20, sim.out_words, sim.out_bytes_per_word) and out.dtype == np.uint8
    oshape = (20, *sim.oshape_folded[1:])
    vals = packed_bytearray_to_finnpy(out, sim.odt, oshape, reverse_endian=True, reverse_inner=True)
    expect = st.run_dataflow(mid[0])
    assert np.array_equal(vals.reshape(expect.shape), expect)
    with pytest.raises(RtlSimError, match="run_packed"):
        sim.run_packed(packed[:, :-1])


def test_rebuild_is_cache_hit(stitched, demo_run: Path):
    from fewerbits.hw.rtlsim.sim import Stitched

    first = stitched.binary  # compiled by the fixture (or by the demo run, same session cache)
    assert first is not None and first.path.is_file()
    again = Stitched(demo_run / "build").compile()
    assert again.cache_hit and again.key == first.key
    assert again.path == first.path and again.path.is_file()


def test_mutated_threshold_fails(stitched_level, demo_data, demo_run: Path):
    """One threshold changed in a generated .dat file => rtl_stitched and the node check fail."""
    from fewerbits.hw.rtlsim.sim import BuildGraphs, python_exec, simulate_node

    from fewerbits.verify import run_ladder

    x, ref = demo_data
    g = BuildGraphs(demo_run / "build")
    node = next(n for n in g.nodes if n.op_type == "Thresholding_rtl" and n.name.endswith("_1"))
    from qonnx.custom_op.registry import getCustomOp

    gen = Path(getCustomOp(node).get_nodeattr("code_gen_dir_ipgen"))
    dat = sorted(gen.glob("*.dat"))[0]
    original = dat.read_text()
    lines = original.split("\n")
    width = len(lines[0])
    # the first channel's threshold moved to the bottom of its range: that neuron now fires
    lines[0] = "0" * width if int(lines[0], 16) != 0 else "1".rjust(width, "0")
    try:
        dat.write_text("\n".join(lines))
        [res] = run_ladder(ref, x, [stitched_level])
        assert res.status == "fail" and res.bit_exact < FRAMES
        # the node alone, fed with the real activations of these images
        cur = []
        g.run_with(x, lambda m: (cur.append(m), np.zeros((len(x), 10), np.float32))[1])
        cur = cur[0]
        for n in g.nodes[: g.nodes.index(node)]:
            cur = python_exec(
                g.dataflow, n, cur.reshape(len(x), *getCustomOp(n).get_normal_input_shape()[1:])
            )
        node_res = simulate_node(g.dataflow, node, demo_run / "build" / "rtlsim" / "mut", x=cur)
        assert node_res.status == "fail" and node_res.exact < node_res.outputs
    finally:
        dat.write_text(original)
    [res] = run_ladder(ref, x, [stitched_level])
    assert res.status == "pass"


def test_auto_style_build_lists_hls_layers_as_skipped(demo_run: Path, tmp_path):
    """FINN's own choice (impl_style 'auto') gives MVAU_hls: no stitched level, HLS nodes skipped."""
    from fewerbits.hw.build import build
    from fewerbits.hw.rtlsim.sim import BuildGraphs

    from fewerbits.core.artifacts import BuildDir
    from fewerbits.core.config import BuildConfig
    from fewerbits.verify.levels.rtl import RtlNodesLevel, RtlStitchedLevel

    out = tmp_path / "auto"
    build(demo_run / "export" / "model.onnx", out, BuildConfig(impl_style="auto"), progress=False)
    skipped = BuildGraphs(out).skipped()
    assert skipped and all(s["op_type"].endswith("_hls") for s in skipped)
    assert all("needs Vitis HLS" in s["reason"] for s in skipped)
    reason = RtlStitchedLevel(None, BuildDir(out)).available()
    assert reason is not None and "Vitis HLS" in reason
    # the demo's only standalone threshold (the UINT8 input quantizer) is an identity and is
    # removed, and MVAU_hls embeds the others: no RTL layer is left to simulate
    nodes_reason = RtlNodesLevel(None, BuildDir(out)).available()
    assert (
        nodes_reason is not None and "no RTL layer" in nodes_reason and "Vitis HLS" in nodes_reason
    )


def test_idle_limit_follows_the_latency_estimate(stitched, demo_data, demo_run: Path):
    """A stitched run waits for an output word IDLE_LATENCIES x FINN's latency estimate, not a
    fixed count: Brevitas CNV-w2a2 (886 FPS on Pynq-Z1) has its first frame out after 353,090
    cycles, and the fixed 200,000 of before called it a deadlock. Scaled down to the demo:
    with the floor below its first output's latency a fixed limit times out, the derived one
    streams the same frames bit-exact."""
    from fewerbits.hw.rtlsim.sim import IDLE_LATENCIES, Stitched
    from fewerbits.hw.sim import SimulationFailed

    x, _ = demo_data
    st = stitched
    mid = st.partition_inputs(x[:3])
    words = st.geo.pack_in(mid)
    ref = st.run_words(words, 3)
    first_word = int(ref.last_out[0] - st.geo.out_words + 1)  # no earlier than this cycle
    floor = 8
    assert first_word > floor
    fixed = st.geo.words_job(words, 3, st.workdir)
    fixed.max_idle = floor
    with pytest.raises(SimulationFailed, match="timeout: no output"):
        st.backend.run(st.compile(), fixed)
    low = Stitched(demo_run / "build", min_idle=floor)
    assert low.latency_estimate > first_word  # FINN's estimate bounds the real latency
    job = low.job(words, 3, low.workdir)
    assert job.max_idle == IDLE_LATENCIES * low.latency_estimate
    got = low.run_words(words, 3)
    assert np.array_equal(got.out, ref.out) and low.binary.cache_hit
