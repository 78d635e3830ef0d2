"""Every FINN level compares every quantizer's integer tensor on every sample, not only where
the output differs (fewerbits/verify/ladder.py).

The net is a real Brevitas MLP whose last hidden channel ``c`` is pruned: the output layer's
weights from it are zero, so no integer of that channel can reach the output. A wrong
threshold on that channel in FINN's streamlined graph (all of them above any accumulator
value: the channel is stuck at its lowest level) changes an intermediate integer tensor on
every sample where the channel was active, and the output not at all. The level must fail
there, naming that layer; without the mutation every level passes with its integer tensors
counted. The same wrong integer in the exported graph (qonnx's own level, compared with
PyTorch's integers from forward hooks) fails that level the same way."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import verify_nets as vn

STREAMLINED = "intermediate_models/step_fewerbits_fix_thresholds.onnx"
SKIP = ("onnxruntime", "hw_graph", "folded_hw_graph", "rtl_nodes", "rtl_stitched")


@pytest.fixture(scope="module")
def pruned(tmp_path_factory) -> tuple[Path, int]:
    """(folder with export/, build/ and x.npy, the pruned channel of the last hidden layer)."""
    d = tmp_path_factory.mktemp("pruned")
    model = vn.mlp(2, 2, in_features=64, hidden=(16, 16), bn=True)
    x = np.random.default_rng(3).integers(0, 256, (16, 1, 8, 8)).astype(np.float32)
    vn.calibrate(model, x)
    acts = []
    hook = model[-2].register_forward_hook(lambda m, i, o: acts.append(o.detach().numpy()))
    with torch.no_grad():
        model(torch.from_numpy(x))
    hook.remove()
    c = int(np.argmax((acts[0] > 0).sum(axis=0)))  # the channel active on most samples
    assert (acts[0][:, c] > 0).sum() >= 4, "no active channel: the mutation would show nothing"
    with torch.no_grad():
        model[-1].weight[:, c] = 0.0  # pruned: the output cannot see channel c
    vn.build(vn.export_factory_model(model, (1, 8, 8), d, samples=x), until="estimates")
    np.save(d / "x.npy", x)
    return d, c


def _verify(build: Path, d: Path, out: Path) -> dict:
    from fewerbits.verify import verify_directory

    res = verify_directory(build, d / "x.npy", progress=False, skip=SKIP, out_file=out)
    return {r["name"]: r for r in res["levels"]}


def test_a_wrong_integer_the_output_cannot_see_fails_the_level_naming_its_layer(pruned, tmp_path):
    from fewerbits.hw.build.quant_tags import node_tag

    from fewerbits.compat.finn.env import prepare_finn

    d, c = pruned
    intact = _verify(d / "build", d, tmp_path / "intact.json")
    for name in ("finn_onnx", "streamlined"):
        lv = intact[name]
        assert lv["status"] == "pass", lv
        ints = lv["integers"]
        assert ints["samples"] == 16 and ints["tensors"] >= 2, ints
        assert ints["summary"] == f"{ints['tensors']} tensors x 16 samples exact", ints
    ints = intact["qonnx"]["integers"]  # and qonnx's against PyTorch's (forward hooks)
    want = f"{ints['tensors']} tensors x 16 samples exact against PyTorch's (forward hooks)"
    assert ints["summary"] == want and ints["tensors"] >= 2, ints

    prepare_finn(tmp_path / "finn")
    from qonnx.core.modelwrapper import ModelWrapper

    from fewerbits.core.artifacts import ExportDir
    from fewerbits.verify.levels.qonnx import QonnxLevel

    build = tmp_path / "build"
    shutil.copytree(d / "build", build)
    m = ModelWrapper(str(build / STREAMLINED))
    mts = [n for n in m.graph.node if n.op_type == "MultiThreshold" and node_tag(m, n)]
    mt = mts[-1]  # the last hidden layer's activation
    t = m.get_initializer(mt.input[1]).copy()
    t[c] = t.max() + 1e6  # channel c stuck at its lowest level
    m.set_initializer(mt.input[1], t)
    m.save(str(build / STREAMLINED))
    layer = QonnxLevel(ExportDir(d / "export")).layer_of(node_tag(m, mt))
    assert "act_quant" in layer, layer

    p = subprocess.run(
        [sys.executable, "-m", "fewerbits.cli", "verify", str(build), "--input", str(d / "x.npy")]
        + [a for s in SKIP for a in ("--skip", s)]
        + ["--out", str(tmp_path / "mutated.json"), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 1, p.stdout + p.stderr
    lines = p.stdout.strip().splitlines()
    assert lines[-2].startswith("verify FAILED at level streamlined"), p.stdout
    assert f"first diverging node {mt.name}" in lines[-2] and f"layer {layer}" in lines[-2], (
        p.stdout
    )
    row = next(line for line in lines if line.split()[:1] == ["streamlined"])
    # the output did not change: the old check (integers only where the output differs) passed
    assert "16/16 bit-exact" in row and "the output is bit-identical" in row, row
    assert "integers: " in row and f"differ at {mt.name} (layer {layer})" in row, row
    finn_onnx = next(line for line in lines if line.split()[:1] == ["finn_onnx"])
    assert "pass" in finn_onnx and "tensors x 16 samples exact" in finn_onnx, finn_onnx


@pytest.mark.parametrize("shift", [2.5, 1e7], ids=["2.5-levels", "far-below-zero"])
def test_a_wrong_integer_in_the_exported_graph_fails_the_qonnx_level(pruned, tmp_path, shift):
    """The pruned channel's BatchNorm bias lowered in the QONNX graph: qonnx's output is
    still bit-identical to PyTorch's, its integers of that layer are not."""
    from fewerbits.export.trace import layer_names
    from qonnx.core.modelwrapper import ModelWrapper

    from fewerbits.verify import verify_directory

    d, c = pruned
    export = tmp_path / "export"
    shutil.copytree(d / "export", export)
    m = ModelWrapper(str(export / "model.onnx"))
    layers = layer_names(m)
    quant = [n for n in m.graph.node if n.name in layers and n.op_type == "Quant"][-1]
    node = m.find_producer(quant.input[0])
    while node.op_type != "BatchNormalization":  # back from the last hidden activation
        node = m.find_producer(node.input[0])
    bias = m.get_initializer(node.input[2]).copy()
    # channel c `shift` levels lower (at 0 where it was below that). 2.5: a small change, the
    # derived float32 error of the value stays far below one level; 1e7: the error of a value
    # that large is more than a level, but below zero by far more, the ReLU gives exactly 0 in
    # any evaluation (fewerbits/core/float_tail.py): no tie can explain either
    bias[c] -= shift * float(m.get_initializer(quant.input[1]))
    m.set_initializer(node.input[2], bias)
    m.save(str(export / "model.onnx"))
    res = verify_directory(export, d / "x.npy", progress=False, out_file=tmp_path / "v.json")
    lv = {r["name"]: r for r in res["levels"]}["qonnx"]
    assert lv["status"] == "fail" and lv["bit_exact"] == 16, json.dumps(lv)  # output unchanged
    assert lv["node"].startswith(quant.name) and layers[quant.name] in lv["reason"], lv
    assert "differs from PyTorch's" in lv["reason"], lv
    assert res["summary"].startswith("verify FAILED at level qonnx"), res["summary"]
