"""End-to-end `fewerbits run` on real data through FINN code generation: check the report."""

from __future__ import annotations

import json
from pathlib import Path

from fewerbits.hw.build.steps import OPEN_BOARD_STEPS, SOFTWARE_STEPS, VIVADO_STEPS


def test_report_contents(demo_run: Path):
    from conftest import finn_report

    rep = json.loads((demo_run / "report.json").read_text())
    # a 2-epoch TFC w2a2 on MNIST-5k is far above chance
    assert 0.5 < rep["accuracy"]["test"] <= 1.0
    levels = {lv["name"]: lv for lv in rep["verification"]["levels"]}
    q = levels["qonnx"]
    assert q["status"] == "pass" and q["samples"] == 200
    assert q["bit_exact"] == 200, "power-of-two scales make PyTorch == QONNX bit-exact"
    assert rep["verification"]["all_passed"] is True
    # every level that ran is bit-exact on every sample (no ULP bound), and it ran on all 200
    ran = [lv for lv in levels.values() if lv["status"] != "skipped"]
    assert {"qonnx", "onnxruntime", "folded_hw_graph", "rtl_stitched"} <= {lv["name"] for lv in ran}
    for lv in ran:
        assert lv["status"] == "pass", lv
        assert lv["samples"] == 200 and lv["bit_exact"] == lv["samples"], lv
        assert lv["max_ulp"] == 0, lv
    assert all(lv["reason"] for lv in levels.values() if lv["status"] == "skipped")
    # the stitched Verilator model runs at exactly FINN's estimated cycles per frame
    rtl = rep["rtl_simulation"]["rtl_stitched"]
    assert rtl["frames"] == 200 and rtl["bit_exact"] == 200
    assert rtl["cycles_per_frame"] == rtl["estimate_cycles_per_frame"], rtl
    perf = finn_report(demo_run / "build", "estimate_network_performance")
    assert rtl["estimate_cycles_per_frame"] == perf["max_cycles"]
    est = rep["estimates"]
    assert est["fps"] > 0 and est["latency_cycles"] > 0 and est["luts"] > 0
    assert {p["name"].split("_")[0] for p in est["per_layer"]} >= {"MVAU"}
    assert sum(p["cycles"] > 0 for p in est["per_layer"]) == len(est["per_layer"])
    assert rep["steps"]["ran"] == SOFTWARE_STEPS
    assert [s["step"] for s in rep["steps"]["skipped"]] == VIVADO_STEPS + OPEN_BOARD_STEPS
    assert all("Vivado" in s["reason"] for s in rep["steps"]["skipped"])


def test_artifacts_on_disk(demo_run: Path):
    assert (demo_run / "train" / "checkpoint.pt").stat().st_size > 0
    assert (demo_run / "export" / "model.onnx").stat().st_size > 0
    exp = json.loads((demo_run / "export" / "export.json").read_text())
    assert exp["input"]["datatype"] == "UINT8"
    md = (demo_run / "report.md").read_text()
    assert "## Verification" in md and "qonnx" in md
    png = demo_run / "plots" / "per_layer.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # generated hardware code exists and is not empty
    gen = list((demo_run / "build" / "finn_tmp").glob("code_gen_ipgen_*/*"))
    assert any(p.suffix in (".cpp", ".v", ".sv") and p.stat().st_size > 0 for p in gen)
