"""A QONNX file exported by Brevitas directly (not by fewerbits) is exported, built and verified;
with no PyTorch model, qonnx's execution of the file is the reference, and the result says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import brevitas.nn as qnn
import numpy as np
import torch
import torch.nn as nn
from brevitas.export import export_qonnx

CLI = [sys.executable, "-m", "fewerbits.cli"]


class Scale(nn.Module):
    def forward(self, x):
        return x / 255.0


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args, "-q"], capture_output=True, text=True, timeout=600)


def test_brevitas_qonnx_file_verified_against_itself(tmp_path: Path):
    torch.manual_seed(0)
    model = nn.Sequential(
        Scale(),
        qnn.QuantIdentity(),
        nn.Flatten(),
        qnn.QuantLinear(16, 8, bias=True),
        qnn.QuantReLU(),
        qnn.QuantLinear(8, 4, bias=False),
    )
    model.train()
    with torch.no_grad():  # calibrate Brevitas' runtime statistics
        for _ in range(4):
            model(torch.rand(16, 1, 4, 4) * 255)
    model.eval()
    raw = tmp_path / "brevitas.onnx"
    export_qonnx(model, torch.zeros(1, 1, 4, 4), export_path=str(raw), dynamo=False)

    p = _cli("export", str(raw), "--out", str(tmp_path / "e"))
    assert p.returncode == 0, p.stderr
    info = json.loads((tmp_path / "e" / "export.json").read_text())
    assert info["source"] == {"qonnx": str(raw)} and info["input_shape"] == [1, 4, 4]
    p = _cli("build", str(tmp_path / "e"), "--until", "estimates", "--out", str(tmp_path / "b"))
    assert p.returncode == 0, p.stderr
    x = np.random.default_rng(0).integers(0, 256, (20, 1, 4, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    p = _cli("verify", str(tmp_path / "b"), "--input", str(tmp_path / "x.npy"))
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads((tmp_path / "x.verify.json").read_text())  # beside --input
    assert out["reference"]["name"] == "qonnx" and "no PyTorch model" in out["reference"]["note"]
    levels = {lv["name"]: lv for lv in out["levels"]}
    assert levels["qonnx"]["status"] == "skipped" and "reference" in levels["qonnx"]["reason"]
    for name in ("onnxruntime", "finn_onnx", "streamlined", "hw_graph", "folded_hw_graph"):
        assert levels[name]["status"] == "pass" and levels[name]["samples"] == 20, levels[name]

    # the user's layer names come from the file's own node names (Brevitas' TorchScript
    # scopes, before qonnx's cleanup renamed the nodes Quant_0, ...)
    info = json.loads((tmp_path / "e" / "export.json").read_text())
    assert set(info["layer_names"].values()) >= {"1.act_quant", "4.act_quant"}, info
    # a wrong threshold in the streamlined graph is named by that layer
    from qonnx.core.modelwrapper import ModelWrapper

    from fewerbits.verify.levels.finn_graphs import StreamlinedLevel

    inter = tmp_path / "b" / "intermediate_models"
    f = next(inter / f"{s}.onnx" for s in StreamlinedLevel.steps if (inter / f"{s}.onnx").is_file())
    m = ModelWrapper(str(f))
    node = [n for n in m.graph.node if n.op_type == "MultiThreshold"][-1]
    t = m.get_initializer(node.input[1]).copy()
    t[:] = t.min() - 100000  # every channel stuck at its highest level
    m.set_initializer(node.input[1], t)
    m.save(str(f))
    p = _cli("verify", str(tmp_path / "b"), "--input", str(tmp_path / "x.npy"))
    assert p.returncode == 1, p.stdout + p.stderr
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("verify FAILED"))
    assert "at level streamlined" in line and "layer 4.act_quant" in line, line


def test_qonnx_file_with_factory_options_refused(tmp_path: Path):
    p = _cli("export", str(tmp_path / "m.onnx"), "--input-shape", "1,4,4", "--out", str(tmp_path))
    assert p.returncode == 2  # a bad option combination
    assert p.stderr.strip().splitlines() == [
        "fewerbits export: error: --weights and --input-shape are only for file.py:factory models"
    ]
