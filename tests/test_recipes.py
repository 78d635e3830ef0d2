"""Topology recipes (hw/build/recipes.py): networks FINN's default flow refuses build and verify
bit-exact with no user-written steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fewerbits.export.exporter import export
from fewerbits.hw.build import BuildError, build
from fewerbits.hw.build import steps as S

from fewerbits.core.config import BuildConfig
from fewerbits.verify import verify_directory

CONV1D_PY = """import brevitas.nn as qnn
import torch
import torch.nn as nn
from brevitas.quant import Int8ActPerTensorFixedPoint as IQ
from brevitas.quant import Int8WeightPerTensorFixedPoint as WQ
from brevitas.quant import Uint8ActPerTensorFixedPoint as AQ


def make():
    torch.manual_seed(0)
    return nn.Sequential(
        qnn.QuantIdentity(act_quant=IQ),
        qnn.QuantConv1d(2, 4, 3, bias=False, weight_quant=WQ, weight_bit_width=4),
        qnn.QuantReLU(act_quant=AQ, bit_width=4),
        qnn.QuantConv1d(4, 4, 3, bias=False, weight_quant=WQ, weight_bit_width=4),
        qnn.QuantReLU(act_quant=AQ, bit_width=4),
        nn.MaxPool1d(2),
        nn.Flatten(),
        qnn.QuantLinear(4 * 6, 5, bias=False, weight_quant=WQ, weight_bit_width=4),
    )
"""


@pytest.fixture(scope="module")
def conv1d_export(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("conv1d")
    (d / "net1d.py").write_text(CONV1D_PY)
    export({"factory": f"{d / 'net1d.py'}:make"}, d / "export", (2, 16), input_dtype="INT8")
    x = np.random.default_rng(0).integers(-128, 128, (20, 2, 16)).astype(np.float32)
    np.save(d / "x.npy", x)
    return d


def test_conv1d_builds_all_rtl_and_verifies(conv1d_export: Path):
    """Conv1d -> ReLU -> MaxPool1d -> Linear behind an input quantizer: every layer RTL (the
    input quantizer's layout transpose goes to the host, no HLS-only Shuffle: the layouts
    compat/qonnx/change3d.py fixes) and every level passes, the stitched Verilator model too."""
    from fewerbits.hw.rtlsim.sim import BuildGraphs

    d = conv1d_export
    build(d / "export" / "model.onnx", d / "build", BuildConfig(), progress=False)
    ops = {n.op_type for n in BuildGraphs(d / "build").nodes}
    assert all(o.endswith("_rtl") for o in ops), ops
    out = verify_directory(d / "build", d / "x.npy", progress=False, skip=("rtl_nodes",))
    levels = {lv["name"]: lv for lv in out["levels"]}
    for name in ("qonnx", "onnxruntime", "finn_onnx", "streamlined", "hw_graph", "folded_hw_graph"):
        assert levels[name]["status"] == "pass", levels[name]
        assert levels[name]["bit_exact"] == 20, levels[name]
    assert levels["rtl_stitched"]["status"] == "pass", levels["rtl_stitched"]


def test_conv1d_fails_without_the_recipe(conv1d_export: Path, tmp_path, monkeypatch):
    """FINN's streamlining still cannot take 1-D convs: the recipe is needed."""
    monkeypatch.setattr(S, "SOFTWARE_STEPS", [s for s in S.SOFTWARE_STEPS if s != S.CONV1D_AS_2D])
    with pytest.raises(BuildError, match="step_streamline failed"):
        build(
            conv1d_export / "export" / "model.onnx",
            tmp_path / "b",
            BuildConfig(until="estimates"),
            progress=False,
        )
