"""Average pooling as Brevitas' docs write it (default quantizers, float scales), through
export, build and verify with no user steps (hw/build/recipes.py, hw/rtl_lib): global average
pooling (``nn.AdaptiveAvgPool2d(1)``, ``TruncAdaptiveAvgPool2d``) and ``TruncAvgPool2d``
(FLOOR built exactly, ROUND refused in one line). The factories are the benchmark's
(benchmarks/external_models.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from fewerbits.export.exporter import export
from fewerbits.hw.build import BuildError, build
from fewerbits.hw.build import steps as S
from fewerbits.hw.rtlsim.sim import BuildGraphs

from fewerbits.cli import main as fewerbits
from fewerbits.core.artifacts import BuildDir
from fewerbits.core.config import BuildConfig
from fewerbits.verify import verify_directory

FACTORIES = Path(__file__).resolve().parents[1] / "benchmarks" / "external_models.py"
SHAPE = (1, 12, 12)


def _inputs(d: Path, n: int = 16) -> Path:
    x = np.random.default_rng(0).integers(0, 256, (n, *SHAPE)).astype(np.float32)
    np.save(d / "x.npy", x)
    return d / "x.npy"


def _export(name: str, d: Path) -> Path:
    export({"factory": f"{FACTORIES}:{name}"}, d / "export", SHAPE)
    return d / "export"


def _op_types(build_dir: Path) -> set[str]:
    """Op types of the specialised hardware graph (the build's step_specialize_layers model)."""

    path = BuildDir(build_dir).model_after(S.SPECIALIZE_LAYERS)
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def _all_pass(levels: list[dict], must_run: tuple[str, ...]) -> dict:
    by = {lv["name"]: lv for lv in levels}
    for lv in levels:
        assert lv["status"] in ("pass", "skipped"), lv
    for name in must_run:
        assert by[name]["status"] == "pass", by[name]
    return by


def test_global_avg_pool_cli_all_levels_incl_rtl_stitched(tmp_path):
    """``nn.AdaptiveAvgPool2d(1)`` + ``QuantIdentity``: `fewerbits export`, `build`, `verify`
    exit 0; the pooling is this library's GlobalSum_rtl, every level passes (the integer
    activations exactly; the float classifier output within its derived bound), the stitched
    Verilator simulation included."""
    spec = f"{FACTORIES}:default_gap"
    assert (
        fewerbits(["export", spec, "--input-shape", "1,12,12", "--out", str(tmp_path / "e")]) == 0
    )
    assert fewerbits(["build", str(tmp_path / "e"), "--out", str(tmp_path / "b"), "-q"]) == 0
    ops = {n.op_type for n in BuildGraphs(tmp_path / "b").nodes}
    assert "GlobalSum_rtl" in ops and all(o.endswith("_rtl") for o in ops), ops
    x = _inputs(tmp_path)
    assert fewerbits(["verify", str(tmp_path / "b"), "--input", str(x), "--skip", "rtl_nodes"]) == 0
    res = json.loads((tmp_path / "x.verify.json").read_text())
    _all_pass(res["levels"], ("streamlined", "hw_graph", "folded_hw_graph", "rtl_stitched"))


def test_trunc_global_avg_pool_round_exact(tmp_path):
    """TruncAdaptiveAvgPool2d with ROUND (half to even: ties occur, S/2**s on a half step): the
    recipe's quantizer form builds and every FINN level is exact in the integer domain."""
    e = _export("trunc_gap_round", tmp_path)
    build(e / "model.onnx", tmp_path / "b", BuildConfig(until="estimates"), progress=False)
    ops = _op_types(tmp_path / "b")
    assert "GlobalSum_rtl" in ops and "Trunc" not in ops, ops
    out = verify_directory(
        tmp_path / "b", _inputs(tmp_path), progress=False, skip=("rtl_nodes", "rtl_stitched")
    )
    _all_pass(out["levels"], ("finn_onnx", "streamlined", "hw_graph", "folded_hw_graph"))


def test_trunc_avg_pool_floor_exact_and_rtl(tmp_path):
    """TruncAvgPool2d(2) with FLOOR: FINN's QuantAvgPool, as this library's AvgPoolTrunc_rtl
    behind FINN's depthwise sliding window, exact at every FINN level. (Its stitched
    simulation passes too -- `fewerbits verify` on benchmarks/models.py's trunc_avgpool_floor
    row -- and is left out here for time: the core is checked node by node in
    tests/test_rtl_lib.py.)"""
    e = _export("trunc_avgpool_floor", tmp_path)
    build(e / "model.onnx", tmp_path / "b", BuildConfig(until="estimates"), progress=False)
    ops = _op_types(tmp_path / "b")
    assert "AvgPoolTrunc_rtl" in ops and all(o.endswith("_rtl") for o in ops), ops
    out = verify_directory(
        tmp_path / "b", _inputs(tmp_path), progress=False, skip=("rtl_nodes", "rtl_stitched")
    )
    _all_pass(out["levels"], ("finn_onnx", "streamlined", "hw_graph", "folded_hw_graph"))


def test_trunc_avg_pool_round_refused_in_one_line(tmp_path):
    """Windowed ROUND cannot be built exactly by FINN's truncating QuantAvgPool: refused at
    the first step, naming the pooling node and what to do; --out is not created."""
    e = _export("trunc_avgpool_round", tmp_path)
    with pytest.raises(BuildError) as err:
        build(e / "model.onnx", tmp_path / "b", BuildConfig(until="estimates"), progress=False)
    msg = str(err.value)
    assert "\n" not in msg and "AveragePool_0" in msg and "ROUND" in msg and "FLOOR" in msg
    assert not (tmp_path / "b").exists()
