"""Depthwise-separable convs end to end: a small MobileNet-style block written as Brevitas' docs
write it (default quantizers, float scales, ``QuantConv2d(groups=C)``, one activation scale per
channel as Brevitas' MobileNet-v1 has them) goes through `fewerbits export`, `build` and
`verify` with exit 0, every level that runs passing in the integer domain, all-RTL (the
depthwise conv on this library's VVAUFabric_rtl, simulated in the stitched accelerator); the
recipe (hw/build/recipes.py ``step_fewerbits_depthwise_scales``) is needed for it; the
depthwise window order the node-level simulation relies on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fewerbits.hw.build import BuildError, build, recipes
from fewerbits.hw.build import steps as S
from fewerbits.hw.rtlsim.sim import window_order
from rtlsim_graphs import rtlsim_cache  # noqa: F401 - session fixture

from fewerbits.core.config import BuildConfig

CLI = [sys.executable, "-m", "fewerbits.cli"]

DW_PY = """import brevitas.nn as qnn
import torch
import torch.nn as nn


class Scale(nn.Module):
    def forward(self, x):
        return x / 255.0


def make():
    torch.manual_seed(0)
    m = nn.Sequential(
        Scale(),
        qnn.QuantIdentity(  # Brevitas' default Int8ActPerTensorFloat, one scale per channel
            per_channel_broadcastable_shape=(1, 3, 1, 1),
            scaling_stats_permute_dims=(1, 0, 2, 3),
            scaling_per_output_channel=True,
        ),
        qnn.QuantConv2d(3, 3, 3, groups=3, bias=False),  # depthwise
        nn.BatchNorm2d(3),
        qnn.QuantReLU(),
        qnn.QuantConv2d(3, 5, 1, bias=False),  # pointwise
        nn.BatchNorm2d(5),
        qnn.QuantReLU(),
        nn.Flatten(),
        qnn.QuantLinear(5 * 4 * 4, 3, bias=True),
    )
    m.train()
    with torch.no_grad():  # Brevitas' runtime statistics set the activation scales
        for _ in range(8):
            m(torch.rand(32, 3, 6, 6) * 255)
    return m.eval()
"""


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def dw_export(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("dw")
    (d / "dwnet.py").write_text(DW_PY)
    p = _cli("export", f"{d / 'dwnet.py'}:make", "--input-shape", "3,6,6", "--out", str(d / "exp"))
    assert p.returncode == 0, p.stderr[-2000:]
    x = np.random.default_rng(0).integers(0, 256, (10, 3, 6, 6)).astype(np.float32)
    np.save(d / "x.npy", x)
    return d


@pytest.mark.usefixtures("rtlsim_cache")
def test_depthwise_separable_net_exports_builds_and_verifies_all_rtl(dw_export):
    d = dw_export
    p = _cli("build", str(d / "exp"), "--out", str(d / "bld"), "-q")
    assert p.returncode == 0, p.stderr[-2000:]
    report = json.loads((d / "bld" / "report.json").read_text())
    impls = set(json.dumps(report).split('"')) & {"VVAUFabric_rtl", "VVAU_hls", "MVAU_hls"}
    assert impls == {"VVAUFabric_rtl"}, impls
    p = _cli("verify", str(d / "bld"), "--input", str(d / "x.npy"), "--skip", "rtl_nodes", "-q")
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    levels = {lv["name"]: lv for lv in json.loads((d / "x.verify.json").read_text())["levels"]}
    ran = {k: v for k, v in levels.items() if v["status"] != "skipped"}
    assert {"qonnx", "streamlined", "hw_graph", "folded_hw_graph", "rtl_stitched"} <= set(ran)
    assert all(v["status"] == "pass" for v in ran.values()), ran
    for name in ("finn_onnx", "streamlined", "hw_graph", "folded_hw_graph"):
        reason = ran[name]["reason"] or ""  # float outputs: integer activations were compared
        assert ran[name]["bit_exact"] == 10 or "integer activations bit-exact" in reason, reason


def test_depthwise_scales_recipe_is_needed(dw_export, tmp_path, monkeypatch):
    """Without the recipe FINN's conversion still refuses the per-channel scale."""
    monkeypatch.setattr(
        S, "SOFTWARE_STEPS", [s for s in S.SOFTWARE_STEPS if s != S.DEPTHWISE_SCALES]
    )
    with pytest.raises(BuildError, match="Im2Col"):
        build(
            dw_export / "exp" / "model.onnx",
            tmp_path / "b",
            BuildConfig(until="estimates"),
            progress=False,
        )


def _mul_conv(scale_shape: tuple[int, ...], group: int):
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    c = 4
    nodes = [
        helper.make_node("Mul", ["x", "s"], ["y"]),
        helper.make_node("Conv", ["y", "w"], ["z"], group=group, kernel_shape=[3, 3]),
    ]
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, 5, 5])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, c, 3, 3])],
    )
    m = ModelWrapper(qonnx_make_model(g))
    m.set_initializer("s", np.full(scale_shape, 0.5, np.float32))
    m.set_initializer("w", np.ones((c, c // group, 3, 3), np.float32))
    m.set_tensor_shape("y", [1, c, 5, 5])
    return m


def test_recipe_pattern_is_a_per_channel_scale_before_a_depthwise_conv():
    assert recipes.channel_scales_before_depthwise(_mul_conv((1, 4, 1, 1), 4)) == [""]
    assert recipes.channel_scales_before_depthwise(_mul_conv((1,), 4)) == []  # scalar
    assert recipes.channel_scales_before_depthwise(_mul_conv((1, 4, 1, 1), 1)) == []  # dense
    assert recipes.channel_scales_before_depthwise(_mul_conv((1, 4, 1, 1), 2)) == []  # grouped


def test_depthwise_window_order():
    """(K2, C) -> FINN's depthwise stream order (C/F, K2, F) and back."""
    k2, c, fold = 4, 6, 2
    x = np.arange(k2 * c).reshape(1, 1, 1, k2 * c)  # element k*C + ch
    s = window_order(x, fold, c, to_stream=True).reshape(-1)
    want = [k * c + f * fold + p for f in range(c // fold) for k in range(k2) for p in range(fold)]
    assert s.tolist() == want
    assert np.array_equal(window_order(window_order(x, fold, c, True), fold, c, False), x)
    assert window_order(x, 0, c, True) is x
