"""FIFO sizing by simulation on the demo build (real FINN graph, real Verilator): the sized
depths are no deeper than the default, FINN's own apply_folding_config + InsertFIFO read them
back from the folding config, the re-simulation is bit-exact at FINN's estimated cycles/frame,
and the stitched level then simulates the sized design."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import FEWERBITS, finn_report
from rtlsim_graphs import rtlsim_cache  # noqa: F401 - session fixture


@pytest.fixture(scope="session")
def sized_build(demo_run: Path, tmp_path_factory, rtlsim_cache) -> Path:  # noqa: F811
    """A copy of the demo build (the generated RTL stays where FINN wrote it), FIFOs sized."""
    import subprocess

    out = tmp_path_factory.mktemp("fifo") / "build"
    shutil.copytree(demo_run / "build", out, ignore=shutil.ignore_patterns("rtlsim", "deploy"))
    (out / "folding.json").unlink(missing_ok=True)
    proc = subprocess.run([*FEWERBITS, "fifo", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "bit-exact" in proc.stdout and "[fewerbits fifo]" in proc.stderr
    return out


def test_sized_depths_and_report(sized_build: Path):
    from fewerbits.hw.rtlsim.fifo import round_depth

    from fewerbits.core.files import read_json

    r = read_json(sized_build / "fifo.json")
    perf = finn_report(sized_build, "estimate_network_performance")
    assert r["bit_exact"] is True
    # steady state: the deep run, the sized run (no stall) and FINN's estimate agree
    assert r["cycles_per_frame"]["sized"] == r["cycles_per_frame"]["deep"]
    assert r["cycles_per_frame"]["sized"][0] == perf["max_cycles"]
    assert len(r["fifos"]) == 9
    for f in r["fifos"]:
        occ = max(f["max_occupancy"], f["max_occupancy_backpressure"])
        assert 0 < occ < f["depth"] <= 32 and f["depth"] >= round_depth(occ)
    assert r["saved"]["ffs"] > 0 and r["saved"]["luts"] > 0
    assert r["total_before"]["ffs"] == sum(32 * f["width"] for f in r["fifos"])
    assert r["seconds"] < 120


def test_finn_reads_the_depths(sized_build: Path):
    """FINN's apply_folding_config (ApplyConfig) + InsertFIFO build exactly the sized FIFOs."""
    from fewerbits.compat.finn import env
    from fewerbits.core.files import read_json

    env.prepare_finn(sized_build)
    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.general import ApplyConfig
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    m = ModelWrapper(str(sized_build / "intermediate_models" / "step_hw_codegen.onnx"))
    m = m.transform(ApplyConfig(str(sized_build / "folding.json")))
    m = m.transform(InsertFIFO(create_shallow_fifos=True))
    # FINN's set_fifo_depths also adds a depth-2 FIFO on the graph's input and output
    ends = {m.graph.input[0].name, m.graph.output[0].name}
    fifos = [
        getCustomOp(n).get_nodeattr("depth")
        for n in m.graph.node
        if "FIFO" in n.op_type and not ({n.input[0], n.output[0]} & ends)
    ]
    assert fifos == [f["depth"] for f in read_json(sized_build / "fifo.json")["fifos"]]


def test_stitched_uses_sized_depths(sized_build: Path):
    from fewerbits.hw.rtlsim.sim import Stitched

    from fewerbits.core.files import read_json

    depths = [f["depth"] for f in read_json(sized_build / "fifo.json")["fifos"]]
    st = Stitched(sized_build)
    assert st.fifo_depths == depths
    st = Stitched(sized_build, quick=True)  # the sizing's proof model, from the cache
    assert st.fifo_depths == depths and st.compile().cache_hit
    assert all(f".DEPTH({d})" in st.sources["fb_top.sv"] for d in depths)
    x = np.zeros((4, *st.geo.in_normal[1:]), dtype=np.float32)
    st.run_dataflow(x)
    assert st.last.fifo_max is not None and len(st.last.fifo_max) == len(depths)
    assert all(m <= d for m, d in zip(st.last.fifo_max, depths, strict=True))


def test_build_step_sizes_fifos(sized_build: Path, demo_run: Path, tmp_path):
    """The registered build step (--size-fifos) on a fresh copy of the demo build: the same
    depths as `fewerbits fifo`, written into folding.json and the model's node attributes, and
    FINN's own FIFO sizing switched off for the Vivado steps; not requested: skipped, saying so."""
    from fewerbits.hw.build.context import BuildContext
    from fewerbits.hw.build.finn_config import dataflow_config
    from fewerbits.hw.build.steps import HW_CODEGEN, SIZE_FIFOS, SOFTWARE_STEPS, get_step
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from fewerbits.core.artifacts import BuildDir
    from fewerbits.core.config import BuildConfig
    from fewerbits.core.files import read_json

    assert SOFTWARE_STEPS.index(SIZE_FIFOS) == SOFTWARE_STEPS.index(HW_CODEGEN) + 1
    out = tmp_path / "build"
    shutil.copytree(demo_run / "build", out, ignore=shutil.ignore_patterns("rtlsim", "deploy"))
    (out / "folding.json").unlink(missing_ok=True)
    step = get_step(SIZE_FIFOS, "rtl")
    model = ModelWrapper(str(out / "intermediate_models" / "step_hw_codegen.onnx"))
    part = "xc7z020clg400-1"
    off = BuildContext(BuildConfig(), BuildDir(out), part, None)
    step(model, dataflow_config(BuildConfig(), out, part), off)
    assert off.info["fifo_sizing"] == {"skipped": "not requested (--size-fifos)"}
    assert not (out / "folding.json").exists()
    cfg = dataflow_config(BuildConfig(size_fifos=True), out, part)
    ctx = BuildContext(BuildConfig(size_fifos=True), BuildDir(out), part, None)
    model = step(model, cfg, ctx)
    want = [f["depth"] for f in read_json(sized_build / "fifo.json")["fifos"]]
    assert ctx.info["fifo_sizing"]["depths"] == want
    assert cfg.auto_fifo_depths is False
    fifos = read_json(out / "fifo.json")["fifos"]
    folding = read_json(out / "folding.json")
    nodes = {n.name: getCustomOp(n) for n in model.graph.node}
    for f in fifos:
        assert folding[f["producer"]]["outFIFODepths"][0] == f["depth"]
        assert nodes[f["producer"]].get_nodeattr("outFIFODepths")[0] == f["depth"]
        assert nodes[f["consumer"]].get_nodeattr("inFIFODepths")[0] == f["depth"]


def _limit_model(sized_build: Path):
    """The sizing's measuring model (deep FIFOs, run-time capacity limits): from the cache the
    sizing filled, and the inputs it streamed."""
    from fewerbits.hw.rtlsim.fifo import FRAMES
    from fewerbits.hw.rtlsim.sim import Stitched, random_input

    from fewerbits.core.files import read_json

    r = read_json(sized_build / "fifo.json")
    st = Stitched(sized_build, r["measuring_depth"], quick=True, limits=True)
    x = random_input(st.geo.idt, (FRAMES, *st.geo.in_normal[1:]), np.random.default_rng(1))
    return st, st.geo.pack_in(x), r


def test_limits_emulate_smaller_fifos(sized_build: Path):
    """A FIFO limited at run time to 2 words holds at most 2; the outputs stay bit-exact and
    the accelerator is no faster; the limits back at the full depth: the deep run again."""
    from fewerbits.hw.rtlsim.fifo import FRAMES, _steady_cycles
    from fewerbits.hw.sim.verilator import cache_root

    st, words, r = _limit_model(sized_build)
    deep = st.run_words(words, FRAMES)
    assert st.binary.cache_hit  # the measuring model of the sizing, not a new compile
    # the sizing's second compile reused Verilator's runtime objects kept by the first
    assert list(cache_root().glob("runtime-*/verilated_threads.o"))
    st.set_limits([2] * len(st.fifo_depths))
    small = st.run_words(words, FRAMES)
    assert np.array_equal(small.out, deep.out)
    assert max(small.fifo_max) <= 2 < max(deep.fifo_max)
    assert _steady_cycles(small) >= _steady_cycles(deep)
    st.set_limits(st.fifo_depths)
    again = st.run_words(words, FRAMES)
    assert np.array_equal(again.fifo_max, deep.fifo_max) and again.cycles == deep.cycles


def test_search_shrinks_a_conservative_fifo(sized_build: Path):
    """A FIFO the measurement left deeper than 32 (as in front of a conv net's sliding window)
    is searched down (run-time capacity limits on the measuring model, no recompile) to a
    depth at which the three runs keep outputs and cycles/frame; the others stay as measured."""
    from fewerbits.hw.rtlsim.fifo import (
        FRAMES,
        SEARCH_ABOVE,
        SEARCH_MIN,
        FifoLink,
        _runs,
        _search_depths,
        _steady_cycles,
    )

    st, words, r = _limit_model(sized_build)
    links = [
        FifoLink(
            **{k: f[k] for k in ("index", "producer", "consumer", "width")},
            words_per_frame=f["words_per_frame"],
            depth_before=32,
            depth=f["depth"],
        )
        for f in r["fifos"]
    ]
    links[0].depth = 4 * SEARCH_ABOVE  # pretend the measurement was conservative here
    interval = r["input_interval_cycles"]
    ref = _runs(st, words, FRAMES, 1, interval)
    trials = _search_depths(st, links, words, FRAMES, 1, interval, lambda _m: None)
    # the first trial: every searched FIFO at the least depth; then halving (<= 5 trials)
    assert 1 <= len(trials) <= 6 and trials[0]["depths"][0] == SEARCH_MIN
    assert all(t["depths"][1:] == [f["depth"] for f in r["fifos"]][1:] for t in trials)
    assert SEARCH_MIN <= links[0].depth < 4 * SEARCH_ABOVE
    assert [ln.depth for ln in links[1:]] == [f["depth"] for f in r["fifos"]][1:]
    # the depth found passes, half of it (if tried) did not
    passed = [t["depths"][0] for t in trials if t["ok"]]
    assert links[0].depth == min(passed)
    assert all(t["depths"][0] < links[0].depth for t in trials if not t["ok"])
    st.set_limits([ln.depth for ln in links])
    res = _runs(st, words, FRAMES, 1, interval)
    assert [_steady_cycles(x) for x in res] == [_steady_cycles(x) for x in ref]


def test_quick_models_compile_for_build_time():
    """A quick model (FIFO sizing's) is one -Og translation unit, cached apart from the
    default model of the same sources; a debug model stays at -O0."""
    from fewerbits.hw.sim import Design
    from fewerbits.hw.sim.verilator.backend import OPT, QUICK_OPT, VerilatorBackend

    be = VerilatorBackend()
    src = {"fb_top.sv": "module fb_top(input ap_clk); endmodule\n"}
    quick = be.design_flags(Design("q", src, quick=True))
    assert f"OPT_FAST={QUICK_OPT}" in quick and f"OPT_GLOBAL={QUICK_OPT}" in quick
    assert "VM_PARALLEL_BUILDS=0" in quick and f"OPT_FAST={OPT}" not in quick
    assert "VM_PARALLEL_BUILDS=0" not in be.design_flags(Design("d", src))
    assert "OPT_FAST=-O0" in be.design_flags(Design("t", src, trace=True, quick=True))
    assert be.cache_key(Design("q", src, quick=True)) != be.cache_key(Design("d", src))
