"""The FINN build (hw/build/, hw/folding.py, hw/vivado.py): real Brevitas nets, real FINN.

Budget: the whole file stays well under 4 minutes on 2 cores (shared session fixtures)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fewerbits.core.ownership import OutputRefused

ROOT = Path(__file__).resolve().parents[1]
FEWERBITS = [sys.executable, "-m", "fewerbits.cli"]


def _nets_module():
    spec = importlib.util.spec_from_file_location(
        "fewerbits_bench_nets", ROOT / "benchmarks" / "nets.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def nets(tmp_path_factory) -> dict[str, Path]:
    """Random-weight TFC w2a2 and a small CNV w2a2 (channels / 8), exported to QONNX."""
    d = tmp_path_factory.mktemp("nets")
    m = _nets_module()
    return {
        "tfc": m.export_net("tfc", 2, 2, d / "tfc.onnx"),
        "cnv": m.export_net("cnv", 2, 2, d / "cnv.onnx", width=0.125),
    }


@pytest.fixture(scope="session")
def tfc_build(nets, tmp_path_factory) -> Path:
    from fewerbits.hw.build import build

    from fewerbits.core.config import BuildConfig

    out = tmp_path_factory.mktemp("b") / "tfc"
    build(nets["tfc"], out, BuildConfig(fit=0.7, until="codegen"), progress=False)
    return out


@pytest.fixture(scope="session")
def cnv_build(nets, tmp_path_factory) -> Path:
    from fewerbits.hw.build import build

    from fewerbits.core.config import BuildConfig

    out = tmp_path_factory.mktemp("b") / "cnv"
    build(nets["cnv"], out, BuildConfig(target_fps=2000, until="codegen"), progress=False)
    return out


@pytest.fixture(scope="module")
def cnv_build_hls(nets, tmp_path_factory) -> Path:
    """The small CNV with FINN's own implementation choice (HLS max-pool and output scale)."""
    from fewerbits.hw.build import build

    from fewerbits.core.config import BuildConfig

    out = tmp_path_factory.mktemp("b") / "cnv_hls"
    cfg = BuildConfig(target_fps=2000, until="codegen", impl_style="auto")
    build(nets["cnv"], out, cfg, progress=False)
    return out


def _final_model(out: Path):
    from qonnx.core.modelwrapper import ModelWrapper

    rep = json.loads((out / "report.json").read_text())
    return ModelWrapper(str(out / rep["artifacts"]["final_model"]))


def _check_codegen(out: Path) -> dict:
    from finn.util.fpgadataflow import is_hls_node, is_rtl_node
    from qonnx.custom_op.registry import getCustomOp

    model = _final_model(out)
    kinds = {"hls": 0, "rtl": 0}
    for node in model.graph.node:
        d = Path(getCustomOp(node).get_nodeattr("code_gen_dir_ipgen"))
        assert d.is_dir() and str(d).startswith(str(out)), (node.name, d)
        if is_hls_node(node):
            kinds["hls"] += 1
            for f in (d / f"hls_syn_{node.name}.tcl", d / f"top_{node.name}.cpp"):
                assert f.stat().st_size > 0, f
        elif is_rtl_node(node):
            kinds["rtl"] += 1
            hdl = [p for p in d.iterdir() if p.suffix in (".v", ".sv")]
            assert hdl and all(p.stat().st_size > 0 for p in hdl), node.name
    return kinds


def test_tfc_build_through_codegen(tfc_build):
    kinds = _check_codegen(tfc_build)
    assert kinds["rtl"] >= 4  # MVAU_rtl and Thresholding_rtl chosen on xc7z020 for w2a2
    rep = json.loads((tfc_build / "report.json").read_text())
    impl = rep["implementations"]
    assert any(v == "MVAU_rtl" for v in impl.values()) and any(
        v == "Thresholding_rtl" for v in impl.values()
    )
    est = rep["estimates"]
    assert est["fps"] > 0 and est["latency_cycles"] > 0 and est["per_layer"]
    assert {"fps", "latency_cycles", "luts", "brams", "dsps", "per_layer"} <= set(est)
    assert rep["steps"]["ran"][-1] == "step_fewerbits_vivado_scripts"
    for png in rep["plots"]:
        assert (tfc_build / png).stat().st_size > 1000
    assert {"plots/per_layer.png", "plots/folding_frontier.png"} <= set(rep["plots"])
    md = (tfc_build / "report.md").read_text()
    assert (
        "per_layer.png" in md
        and "folding_frontier.png" in md
        and "| layer | implementation | PE | SIMD" in md
    )
    assert not list(tfc_build.parent.glob(".tfc.partial*"))


def test_small_cnv_build_through_codegen(cnv_build):
    kinds = _check_codegen(cnv_build)
    # all-RTL: SWG/MVAU/Thresholding from FINN, the max-pool from hw/rtl_lib
    assert kinds["hls"] == 0 and kinds["rtl"] >= 9
    model = _final_model(cnv_build)
    ops = {n.op_type for n in model.graph.node}
    assert {"ConvolutionInputGenerator_rtl", "MVAU_rtl", "MaxPool_rtl"} <= ops


def test_vivado_steps_recorded_with_commands(tfc_build):
    from fewerbits.hw.build import vivado_found
    from fewerbits.hw.build.steps import BOARD_BITSTREAM, VIVADO_STEPS

    if vivado_found():
        pytest.skip("Vivado is installed here: the Vivado steps run instead of being skipped")
    rep = json.loads((tfc_build / "report.json").read_text())
    *skipped, board = rep["steps"]["skipped"]
    assert [s["step"] for s in skipped] == VIVADO_STEPS
    # the open-FPGA board step does not apply to a Pynq build, and says so
    assert board["step"] == BOARD_BITSTREAM and "open-FPGA boards only" in board["reason"]
    for s in skipped:
        assert "Vivado" in s["reason"]
        assert s["command"].startswith("FEWERBITS_WORKDIR=/")
        assert f" {ROOT / 'docker' / 'run.sh'} fewerbits build /" in s["command"]
        assert "--until bitstream --resume" in s["command"] and "--fit 0.7" in s["command"]


def test_hls_tool_commands_and_tcl(cnv_build_hls):
    """The exact vitis_hls invocations of step_hw_ipgen, on FINN's generated TCL."""
    from fewerbits.hw.vivado import hls_jobs

    model = _final_model(cnv_build_hls)
    jobs = hls_jobs(model)
    assert jobs, "the small CNV built with impl_style auto has HLS layers (Pool_hls, ...)"
    script = (cnv_build_hls / "vivado" / "ipgen.sh").read_text().splitlines()
    for job in jobs:
        tcl = Path(job.argv[-1])
        assert job.argv == ["vitis_hls", str(tcl)] and tcl.parent == Path(job.cwd)
        text = tcl.read_text()
        assert (
            'set config_proj_part "xc7z020clg400-1"' in text
            and "set_part $config_proj_part" in text
        )
        assert (
            "set config_clkperiod 10.0" in text and "create_clock -period $config_clkperiod" in text
        )
        assert f'set config_toplevelfxn "{job.node}"' in text and "csynth_design" in text
        assert job.shell() in script
    assert script[0] == "#!/bin/bash" and len(script) == 4 + len(jobs)


def test_cycles_fall_as_folding_grows(tfc_build):
    from fewerbits.hw.folding import _node_options, apply_folding, model_estimates

    model = _final_model(tfc_build)
    mvau = next(n for n in model.graph.node if n.op_type.startswith("MVAU"))
    opts = sorted(_node_options(model, mvau), key=lambda o: o["PE"] * o["SIMD"])
    cycles = []
    for o in [o for o in opts if o["SIMD"] == 1]:  # PE = 1, 2, 4, ... on SIMD 1
        apply_folding(model, {mvau.name: o})
        from qonnx.custom_op.registry import getCustomOp

        cycles.append(getCustomOp(mvau).get_exp_cycles())
    assert len(cycles) >= 4 and all(b < a for a, b in zip(cycles, cycles[1:], strict=False))
    # the whole net: unfolding every MVAU further lowers the bottleneck
    slow = model_estimates(apply_folding(model, {mvau.name: opts[0]}), "xc7z020clg400-1", 10)
    fast = model_estimates(apply_folding(model, {mvau.name: opts[-1]}), "xc7z020clg400-1", 10)
    assert fast["cycles"] <= slow["cycles"]


@pytest.mark.parametrize("which", ["tfc", "cnv"])
def test_fit_never_exceeds_budget(which, tfc_build, cnv_build):
    from functools import partial

    from fewerbits.hw.boards import get_board
    from fewerbits.hw.build.finn_config import dataflow_config
    from fewerbits.hw.folding import (
        Budget,
        FoldingError,
        apply_folding,
        fit_folding,
        model_estimates,
    )
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.res_estimation import res_estimation
    from finn.builder.build_dataflow_steps import _minimize_bit_width
    from qonnx.core.modelwrapper import ModelWrapper

    from fewerbits.core.config import BuildConfig

    out = {"tfc": tfc_build, "cnv": cnv_build}[which]
    spec = ModelWrapper(str(out / "intermediate_models" / "step_specialize_layers.onnx"))
    model = _minimize_bit_width(spec, dataflow_config(BuildConfig(), out))
    board = get_board("Pynq-Z1")
    fps = []
    for frac in (0.02, 0.1, 0.3, 0.7):
        budget = Budget.of_board(board, frac)
        try:
            # FINN's cost model here: the budget is checked against FINN's own analysis passes
            res = fit_folding(model, board.part, budget, 10.0, cost_model="finn")
        except FoldingError:
            fps.append(0.0)
            continue
        assert res.cost_model["name"] == "finn"
        folded = apply_folding(model, res.folding)
        est = model_estimates(folded, board.part, 10.0)
        assert est["luts"] <= budget.luts and est["brams"] <= budget.brams
        assert est["dsps"] <= budget.dsps and est["urams"] <= budget.urams
        assert est["cycles"] == res.cycles
        # independently: FINN's own analysis passes, summed here, against the board's table
        per_node = folded.analysis(partial(res_estimation, fpgapart=board.part))
        total = {k: sum(r.get(k, 0) for r in per_node.values()) for k in ("LUT", "DSP", "URAM")}
        brams36 = sum(r.get("BRAM_18K", 0) for r in per_node.values()) / 2
        assert total["LUT"] <= frac * board.luts and brams36 <= frac * board.brams
        assert total["DSP"] <= frac * board.dsps and total["URAM"] <= frac * board.urams
        assert (total["LUT"], brams36, total["DSP"]) == (est["luts"], est["brams"], est["dsps"])
        assert max(folded.analysis(exp_cycles_per_layer).values()) == res.cycles
        assert res.fps == pytest.approx(1e9 / (10.0 * res.cycles))
        fps.append(res.fps)
    assert fps[-1] > 0 and fps == sorted(fps)  # more budget never means slower
    # the calibrated (synth) cost model: its own totals of the chosen folding fit the budget
    budget = Budget.of_board(board, 0.7)
    res = fit_folding(model, board.part, budget, 10.0, cost_model="synth")
    est = model_estimates(apply_folding(model, res.folding), board.part, 10.0, "synth")
    assert est["luts"] <= budget.luts and est["brams"] <= budget.brams
    assert est["dsps"] <= budget.dsps and est["cycles"] == res.cycles
    assert res.cost_model["name"] == "synth" and "calibrated" in res.cost_model["ops"].values()


def test_fit_puts_weights_in_uram_when_block_ram_runs_out(tfc_build):
    """On a part with UltraRAM, --fit may hold an MVAU's weights in URAM (FINN's
    ram_style="ultra", runtime-writeable on UltraScale+): with no BRAM in the budget the TFC
    fits only that way, and FINN's own estimators of the applied folding agree."""
    from functools import partial

    from fewerbits.hw.boards import get_board
    from fewerbits.hw.build.finn_config import dataflow_config
    from fewerbits.hw.folding import Budget, FoldingError, apply_folding, fit_folding
    from finn.analysis.fpgadataflow.res_estimation import res_estimation
    from finn.builder.build_dataflow_steps import _minimize_bit_width
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from fewerbits.core.config import BuildConfig

    spec = ModelWrapper(str(tfc_build / "intermediate_models" / "step_specialize_layers.onnx"))
    model = _minimize_bit_width(spec, dataflow_config(BuildConfig(), tfc_build))
    part = get_board("ZCU104").part
    no_bram = Budget(luts=200_000, brams=0, dsps=1_000, urams=96)
    with pytest.raises(FoldingError, match="brams"):  # no URAM: every MVAU needs a BRAM
        fit_folding(model, part, Budget(200_000, 0, 1_000, 0), 10.0, cost_model="finn")
    res = fit_folding(model, part, no_bram, 10.0, cost_model="finn")
    assert res.totals["brams"] == 0 and 0 < res.totals["urams"] <= 96
    folded = apply_folding(model, res.folding)
    mvaus = [getCustomOp(n) for n in folded.graph.node if n.op_type == "MVAU_rtl"]
    assert mvaus and all(m.get_nodeattr("ram_style") == "ultra" for m in mvaus)
    assert all(m.get_nodeattr("runtime_writeable_weights") == 1 for m in mvaus)
    per_node = folded.analysis(partial(res_estimation, fpgapart=part))
    assert sum(r.get("BRAM_18K", 0) for r in per_node.values()) == 0
    assert sum(r.get("URAM", 0) for r in per_node.values()) == res.totals["urams"]
    # with BRAM to spare, URAM is a resource like any other: the fit needs none of it here
    roomy = fit_folding(model, part, Budget(200_000, 312, 1_000, 96), 10.0, cost_model="finn")
    assert roomy.fps >= res.fps
    # FINN gives URAM weights no init file on UltraScale+ (the driver writes them); the
    # Verilator design preloads the same memblock.dat instead
    from fewerbits.hw.rtlsim import design
    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP

    folded = folded.transform(PrepareIP(part, 10.0))
    node = next(n for n in folded.graph.node if n.op_type == "MVAU_rtl")
    gen = Path(getCustomOp(node).get_nodeattr("code_gen_dir_ipgen"))
    raw = next(gen.glob("*_memstream_wrapper.v")).read_text()
    assert 'INIT_FILE = ""' in raw  # FINN's, for URAM
    d = design.node_design(folded, node)
    src = next(t for k, t in d.sources.items() if k.endswith("_memstream_wrapper.v"))
    init = f"{node.name}__memblock.dat"
    assert f'INIT_FILE = "./{init}"' in src and init in d.data_files


def test_fit_build_report_within_budget(tfc_build):
    from conftest import finn_report
    from fewerbits.hw.boards import get_board

    rep = json.loads((tfc_build / "report.json").read_text())
    b, est = rep["budget"], rep["estimates"]  # FINN's own estimate reports of the built model
    # the budget bounds the cost model's totals (synth, the default), not FINN's estimates
    # (FINN's DSP estimate may exceed 70 % where Yosys maps fewer)
    tot = rep["fit"]["totals"]
    assert tot["luts"] <= 0.7 * b["luts"] and tot["brams"] <= 0.7 * b["brams"]
    assert tot["dsps"] <= 0.7 * b["dsps"]
    # independently of the report under test: FINN's per-layer estimate JSON summed here (and
    # FINN's own total), against the Pynq-Z1 (the default board) from the board table
    board = get_board("Pynq-Z1")
    assert rep["config"]["build"]["board"] == board.name
    assert (b["luts"], b["brams"], b["dsps"]) == (board.luts, board.brams, board.dsps)
    layers = finn_report(tfc_build, "estimate_layer_resources")
    finn_total = layers.pop("total")
    luts = sum(r["LUT"] for r in layers.values())
    brams = sum(r["BRAM_18K"] for r in layers.values()) / 2
    dsps = sum(r["DSP"] for r in layers.values())
    assert (luts, brams * 2, dsps) == (finn_total["LUT"], finn_total["BRAM_18K"], finn_total["DSP"])
    assert (est["luts"], est["brams"], est["dsps"]) == (luts, brams, dsps)
    assert tot["luts"] <= 0.7 * board.luts and tot["dsps"] <= 0.7 * board.dsps
    assert {p["name"] for p in est["per_layer"]} == set(layers)
    folding = json.loads((tfc_build / "folding.json").read_text())
    assert "Defaults" in folding and any("PE" in v for v in folding.values())
    frontier = json.loads((tfc_build / "folding_frontier.json").read_text())["frontier"]
    assert len(frontier) > 3 and (tfc_build / "plots" / "folding_frontier.png").is_file()
    assert rep["estimates"]["fps"] == pytest.approx(
        max(p["fps"] for p in frontier if p["feasible"])
    )
    # the report says which cost model the budget used (the default: synth) and its totals
    fit = rep["fit"]
    assert fit["cost_model"]["name"] == "synth" == rep["config"]["build"]["cost_model"]
    assert fit["cost_model"]["calibration"]["date"]
    assert fit["cost_model"]["ops"]["MVAU_rtl"] == "calibrated"
    assert all(fit["totals"][r] <= 0.7 * b[r] for r in ("luts", "brams", "dsps"))
    md = (tfc_build / "report.md").read_text()
    assert "budget cost model: synth (FINN's estimates calibrated by Yosys" in md


def test_resume_skips_finished_steps_and_restarts_on_change(nets, tmp_path):
    from fewerbits.hw.build import build

    from fewerbits.core.config import BuildConfig

    out = tmp_path / "r"
    first = build(nets["tfc"], out, BuildConfig(target_fps=5000, until="estimates"), progress=False)
    assert first.steps.reused == []
    again = build(
        nets["tfc"], out, BuildConfig(target_fps=5000, until="codegen"), progress=False, resume=True
    )
    assert again.steps.reused == first.steps.ran
    assert [s["step"] for s in again.steps.seconds] == [
        "step_hw_codegen",
        "step_fewerbits_size_fifos",  # in the plan; skipped inside without --size-fifos
        "step_fewerbits_vivado_scripts",
    ]
    assert again.estimates["fps"] == first.estimates["fps"]
    _check_codegen(out)  # code paths were relocated from the staging folder to out
    other = BuildConfig(target_fps=6000, until="estimates")
    with pytest.raises(OutputRefused, match="made with other options.*--force"):
        build(nets["tfc"], out, other, progress=False, resume=True)
    assert json.loads((out / "build_state.json").read_text())["config_hash"] == again.config_hash
    changed = build(nets["tfc"], out, other, progress=False, resume=True, force=True)
    assert changed.steps.reused == [] and changed.config_hash != again.config_hash
    state = json.loads((out / "build_state.json").read_text())
    assert state["completed"] == changed.steps.ran


# ---- errors through the real CLI -------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*FEWERBITS, "build", *args, "-q"], capture_output=True, text=True, cwd=ROOT
    )


def _one_error_line(p: subprocess.CompletedProcess, code: int = 1) -> str:
    """The one error line; ``code`` 2 for a bad option value, 1 for a bad file or failed step."""
    assert p.returncode == code, p.stderr[-2000:]
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("fewerbits build: error:")]
    assert len(lines) == 1, p.stderr[-2000:]
    return lines[0]


def test_error_unknown_board_and_part(nets, tmp_path):
    line = _one_error_line(
        _cli(str(nets["tfc"]), "--board", "Nexys9", "--out", str(tmp_path / "o")), code=2
    )
    assert "unknown board 'Nexys9'" in line and "Pynq-Z1" in line
    line = _one_error_line(
        _cli(str(nets["tfc"]), "--part", "xc9z999", "--out", str(tmp_path / "o")), code=2
    )
    assert "unknown part 'xc9z999'" in line
    assert not (tmp_path / "o").exists()


def test_error_folding_file_names_unknown_node(nets, tmp_path):
    bad = tmp_path / "fold.json"
    bad.write_text(json.dumps({"Defaults": {}, "MVAU_rtl_0": {"PE": 2}, "MVAU_hls_99": {"PE": 2}}))
    line = _one_error_line(
        _cli(str(nets["tfc"]), "--folding", str(bad), "--out", str(tmp_path / "o"))
    )
    assert "MVAU_hls_99 not in the graph" in line and str(bad) in line
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.partial*"))
    # the failed build is kept for debugging under a name the error line gives
    failed = tmp_path / ".o.failed"
    assert str(failed) in line and (failed / "intermediate_models").is_dir()


def test_error_budget_no_folding_can_meet(nets, tmp_path):
    line = _one_error_line(_cli(str(nets["cnv"]), "--fit", "0.0005", "--out", str(tmp_path / "o")))
    assert "--fit 0.0005: no folding fits the budget" in line
    assert not (tmp_path / "o").exists()


def test_error_model_finn_cannot_convert(tmp_path):
    """Binary weights with float ReLU activations: the MatMul cannot become a FINN layer."""
    sys.path.insert(0, str(ROOT))
    import torch
    from fewerbits.export.exporter import export_qonnx
    from fewerbits.train.models import MLP
    from fewerbits.train.schemes import make_scheme

    torch.manual_seed(0)
    model = MLP(make_scheme("binaryconnect"), 784, (32, 32), 10).eval()
    onnx = tmp_path / "float_act.onnx"
    export_qonnx(model, (1, 28, 28), onnx)
    line = _one_error_line(_cli(str(onnx), "--out", str(tmp_path / "o")))
    assert "FINN cannot convert" in line and "(op " in line and "float" in line
    assert not (tmp_path / "o").exists()


def test_identity_input_thresholds_dropped_bit_exact(tfc_build):
    """The UINT8 input quantizer (thresholds 1..255) is the identity: removing it changes no
    output bit, and a threshold layer that is not the identity is kept."""
    import numpy as np
    from fewerbits.hw.build.custom_steps import identity_threshold_nodes
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    d = tfc_build / "intermediate_models"
    before = ModelWrapper(str(d / "step_fewerbits_check_hw.onnx"))
    after = ModelWrapper(str(d / "step_fewerbits_drop_identity_thresholds.onnx"))
    ident = identity_threshold_nodes(before)
    assert len(ident) == 1 and len(after.graph.node) == len(before.graph.node) - 1
    x = np.random.default_rng(0).integers(0, 256, (4, 1, 1, 28, 28)).astype(np.float32)
    x[0].flat[:256] = np.arange(256)  # every UINT8 value
    for xi in x:
        ya = execute_onnx(before, {before.graph.input[0].name: xi})[before.graph.output[0].name]
        yb = execute_onnx(after, {after.graph.input[0].name: xi})[after.graph.output[0].name]
        assert np.array_equal(ya, yb)
    thr = before.get_initializer(ident[0].input[1]).copy()
    thr[0, 100] += 1  # now 100 maps to 99: not the identity
    before.set_initializer(ident[0].input[1], thr)
    assert identity_threshold_nodes(before) == []


def test_fit_tfc_w1a1_meets_1m_fps_target(tmp_path):
    """Issue target: TFC-w1a1 on xc7z020 at 100 MHz within 70 %: >= 1,000,000 estimated FPS."""
    from fewerbits.hw.build import build

    from fewerbits.core.config import BuildConfig

    onnx = _nets_module().export_net("tfc", 1, 1, tmp_path / "tfc_w1a1.onnx")
    res = build(onnx, tmp_path / "o", BuildConfig(fit=0.7, until="estimates"), progress=False)
    est = res.estimates
    assert est["fps"] >= 1_000_000
    assert est["luts"] <= 0.7 * 53_200 and est["brams"] <= 0.7 * 140 and est["dsps"] <= 0.7 * 220


def test_error_out_is_not_a_build_folder(nets, tmp_path):
    """A non-empty folder that is not a build is never replaced."""
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("precious")
    line = _one_error_line(_cli(str(nets["tfc"]), "--out", str(keep)))
    assert "is not a fewerbits build folder" in line
    assert (keep / "notes.txt").read_text() == "precious"


def test_an_illegal_folding_finn_chose_is_refused_before_publishing(tfc_build):
    """Issue 13: FINN's SetFolding can pick a PE that does not divide the channels (it picked
    Reshape PE=8 for 28); the folding step checks every PE/SIMD and stops the build."""
    from types import SimpleNamespace

    from fewerbits.hw.build.custom_steps import step_fewerbits_folding
    from fewerbits.hw.build.steps import BuildError
    from fewerbits.hw.folding import illegal_folding
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from fewerbits.core.config import BuildConfig

    model = ModelWrapper(str(tfc_build / "intermediate_models" / "step_specialize_layers.onnx"))
    assert illegal_folding(model) == []
    mvau = next(n for n in model.graph.node if n.op_type.startswith("MVAU"))
    mh = getCustomOp(mvau).get_nodeattr("MH")
    pe = next(p for p in range(2, mh) if mh % p)  # the smallest PE that does not divide MH
    getCustomOp(mvau).set_nodeattr("PE", pe)
    bad = illegal_folding(model)
    assert len(bad) == 1 and bad[0].startswith(mvau.name) and f"'PE': {pe}" in bad[0]
    ctx = SimpleNamespace(build=BuildConfig(target_fps=1_000_000))
    with pytest.raises(
        BuildError, match=f"FINN's SetFolding chose an illegal folding .*{mvau.name}"
    ):
        step_fewerbits_folding(model, None, ctx)


def test_fit_search_mixes_identical_layers_between_bram_and_uram():
    """Two identical layers, each fitting in BRAM or in URAM but not both in one: the
    reweighting flips them together (BRAM 20 > 10, then URAM 20 > 10); the repair moves one."""
    import numpy as np
    from fewerbits.hw.folding import Budget, Knob, search

    res = np.array([[0.0, 10.0, 0.0, 0.0], [0.0, 0.0, 0.0, 10.0]])  # weights in BRAM | URAM
    knobs = [Knob(f"MVAU_{i}", [f"MVAU_{i}"], [{}, {}], np.array([100, 100]), res) for i in (0, 1)]
    choice, frontier = search(knobs, {}, Budget(luts=1, brams=10, dsps=1, urams=10), 10.0)
    assert choice is not None and sorted(choice) == [0, 1]
    assert frontier[-1]["feasible"] and frontier[-1]["brams"] == frontier[-1]["urams"] == 10


def test_target_fps_puts_weights_in_uram_when_block_ram_overflows(tmp_path):
    """--target-fps on ZCU104: FINN's SetFolding ignores the part, and at 4096 cycles/frame
    a 2048x1024 INT8 layer's weight memory (4096 x 4096 bits) needs 456 BRAM36 > 312. The
    folding step then places it as --fit would: in URAM (57 of 96), PE/SIMD untouched, and
    FINN's own estimators of the result agree; a part without URAM, or a target whose memory
    fits in neither, leaves the model as it was."""
    from functools import partial

    from fewerbits.hw.boards import get_board
    from fewerbits.hw.build.context import BuildContext
    from fewerbits.hw.build.custom_steps import step_fewerbits_folding
    from fewerbits.hw.build.finn_config import dataflow_config
    from fewerbits.hw.folding import Budget, model_estimates, place_weights
    from finn.analysis.fpgadataflow.res_estimation import res_estimation
    from finn.transformation.fpgadataflow.set_folding import SetFolding
    from qonnx.custom_op.registry import getCustomOp
    from rtlsim_graphs import mvau_rtl_layer

    from fewerbits.compat.finn.env import prepare_finn
    from fewerbits.core.artifacts import BuildDir
    from fewerbits.core.config import BuildConfig

    prepare_finn(tmp_path / "finn")
    zcu = get_board("ZCU104")

    def _big_mvau_rtl():  # 16 Mbit of INT8 weights: more than a ZCU104's 312 BRAM36 hold
        return mvau_rtl_layer(2048, 1024, "INT8", "UINT4")

    model = _big_mvau_rtl().transform(SetFolding(4096, two_pass_relaxation=True))
    inst = getCustomOp(model.graph.node[0])
    fold = (inst.get_nodeattr("PE"), inst.get_nodeattr("SIMD"))
    before = model_estimates(model, zcu.part, 10.0, "synth")
    assert before["brams"] > zcu.brams and before["urams"] == 0
    cfg = BuildConfig(board="ZCU104", target_fps=24_000)
    ctx = BuildContext(cfg, BuildDir(tmp_path / "b"), zcu.part, zcu)
    model = step_fewerbits_folding(model, dataflow_config(cfg, tmp_path / "b"), ctx)
    assert ctx.info["uram_weights"] == ["MVAU_rtl_0"]
    inst = getCustomOp(model.graph.node[0])
    assert (inst.get_nodeattr("PE"), inst.get_nodeattr("SIMD")) == fold
    assert inst.get_nodeattr("ram_style") == "ultra"
    assert inst.get_nodeattr("runtime_writeable_weights") == 1
    after = model_estimates(model, zcu.part, 10.0, "synth")
    assert after["brams"] <= zcu.brams and 0 < after["urams"] <= zcu.urams
    assert after["cycles"] == before["cycles"]
    per_node = model.analysis(partial(res_estimation, fpgapart=zcu.part))
    assert sum(r.get("BRAM_18K", 0) for r in per_node.values()) / 2 <= zcu.brams
    assert sum(r.get("URAM", 0) for r in per_node.values()) == after["urams"]
    # no URAM on the part: nothing to place; fully folded (2M x 8 bits): 512 URAM > 96
    plain = _big_mvau_rtl().transform(SetFolding(4096, two_pass_relaxation=True))
    assert place_weights(plain, zcu.part, Budget(1e9, 312, 1e9, 0), 10.0) == []
    deep = _big_mvau_rtl()
    assert place_weights(deep, zcu.part, Budget.of_board(zcu, 1.0), 10.0) == []
    assert getCustomOp(deep.graph.node[0]).get_nodeattr("ram_style") == "auto"
