"""PyTorch's activation quantizer calls matched to the exported graph's quantizers by identity
(call order recorded at export), and the pinned check that decides float32 ties exactly
(export/trace.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fewerbits.export.exporter import export_qonnx
from fewerbits.export.trace import (
    act_calls,
    layer_names,
    pinned_check,
    pytorch_with_activations,
    resolve_reference,
)
from fewerbits.train.resnet import TinyResNet


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = TinyResNet(ch=4, size=8, classes=5, pool=False).train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.rand(16, 1, 8, 8) * 255)
    model.eval()
    w = export_qonnx(model, (1, 8, 8), tmp_path_factory.mktemp("e") / "model.onnx")
    x = np.random.default_rng(0).integers(0, 256, (3, 1, 8, 8)).astype(np.float32)
    return model, w, x


def test_every_quantizer_call_is_matched_by_identity(exported):
    """The shared QuantReLU is called twice (stem and residual branch): two graph nodes, each
    holding exactly the values of its own call, not of the other one of the same shape."""
    from qonnx.core.onnx_exec import execute_onnx

    model, w, x = exported
    names = act_calls(w)
    assert len(names) == 5  # inp, relu (stem), block.relu1, relu (branch), block.relu_out
    out, acts = pytorch_with_activations(model, x, np.arange(len(x)))
    ctx = execute_onnx(w, {w.graph.input[0].name: x[:1]}, True)
    node = {n.name: n for n in w.graph.node}
    for name, value in zip(names, acts[0], strict=True):
        assert np.array_equal(ctx[node[name].output[0]], value), name
    a, b = (ctx[node[n].output[0]] for n in (names[1], names[3]))
    assert not np.array_equal(a, b)  # the two calls differ: a positional swap would be caught
    assert layer_names(w)[names[4]] == "block.relu_out.act_quant"


def test_pinned_check_passes_equal_integers_and_names_a_real_difference(exported):
    model, w, x = exported
    _, acts = pytorch_with_activations(model, x, [0])
    layers = layer_names(w)
    ok = pinned_check(w, x[:1], acts[0], layers)
    assert ok.ok and ok.pins == {}
    # one level up where the value is far from any rounding boundary: a real mismatch
    names = act_calls(w)
    node = next(n for n in w.graph.node if n.name == names[2])
    scale = float(np.asarray(w.get_initializer(node.input[1])))
    wrong = [a.copy() for a in acts[0]]
    flat = wrong[2].reshape(-1)
    flat[int(np.argmax(flat))] += scale
    bad = pinned_check(w, x[:1], wrong, layers)
    assert not bad.ok and bad.node == names[2] and bad.layer == "block.relu1.act_quant"
    assert "not a float32 rounding at a boundary" in bad.why


def test_resolution_leaves_a_matching_reference_alone(exported):
    from fewerbits.export.exporter import execute_qonnx

    model, w, x = exported
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    out = execute_qonnx(w, x)
    res = resolve_reference(model, w, x, ref, out, np.full(ref.shape, 1e-3))
    assert res.resolved == [] and res.failed is None and res.note() is None
    # a reference the model does not reproduce is never resolved (the level then fails)
    res = resolve_reference(model, w, x, ref + 1.0, out, np.full(ref.shape, 1e-3))
    assert res.resolved == [] and (res.reference == ref + 1.0).all()
