"""Brevitas' own BNN-PYNQ TFC-w1a1 (from the installed brevitas_examples, random weights and
BatchNorm statistics) through export, build --fit 0.7 and verification, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fewerbits.export.exporter import export
from fewerbits.hw.build import build
from fewerbits.hw.build import steps as S

from fewerbits.core.artifacts import BuildDir
from fewerbits.core.config import BuildConfig
from fewerbits.verify import verify_directory

ZOO_PY = '''import torch
import torch.nn as nn
from brevitas_examples.bnn_pynq.models import model_with_cfg


class Scale(nn.Module):
    """Raw 0..255 pixels in, as Brevitas' training scripts feed them (ToTensor)."""

    def forward(self, x):
        return x / 255.0


def tfc_w1a1():
    torch.manual_seed(0)
    model, _ = model_with_cfg("TFC_1W1A", pretrained=False)
    for m in model.modules():  # random BatchNorm statistics, as a trained net has
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return nn.Sequential(Scale(), model)
'''


@pytest.fixture(scope="module")
def tfc_w1a1_build(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("brevitas_tfc")
    (d / "zoo.py").write_text(ZOO_PY)
    export({"factory": f"{d / 'zoo.py'}:tfc_w1a1"}, d / "export", (1, 28, 28))
    build(d / "export" / "model.onnx", d / "build", BuildConfig(fit=0.7), progress=False)
    return d


def test_tfc_w1a1_reaches_1m_fps_within_budget(tfc_w1a1_build: Path):
    """The x.view() of Brevitas' MLPs runs on the host: no Reshape layer caps the rate."""
    rep = json.loads(BuildDir(tfc_w1a1_build / "build").report_json.read_text())
    est = rep["estimates"]
    assert est["fps"] >= 1_000_000, est["per_layer"]
    assert est["luts"] <= 0.7 * 53_200 and est["brams"] <= 0.7 * 140
    assert not any(name.startswith("Reshape") for name in rep["implementations"])
    settings = json.loads(BuildDir(tfc_w1a1_build / "build").deploy.settings.read_text())
    assert settings["host"]["pre"] == [{"op": "reshape", "shape": [1, 784]}]


def test_tfc_w1a1_verifies(tfc_w1a1_build: Path):
    x = np.random.default_rng(0).integers(0, 256, (30, 1, 28, 28)).astype(np.float32)
    np.save(tfc_w1a1_build / "x.npy", x)
    out = verify_directory(
        tfc_w1a1_build / "build", tfc_w1a1_build / "x.npy", progress=False, skip=("rtl_nodes",)
    )
    levels = {lv["name"]: lv for lv in out["levels"]}
    assert out["all_passed"], out["summary"]
    for name in ("qonnx", "onnxruntime", "finn_onnx", "hw_graph", "folded_hw_graph"):
        assert levels[name]["status"] == "pass" and levels[name]["samples"] == 30, levels[name]
    # the model before the partition step is what the parent graph is rebuilt from
    assert BuildDir(tfc_w1a1_build / "build").model_before(S.CREATE_DATAFLOW_PARTITION)
