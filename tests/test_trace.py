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
    layers = layer_names(w)  # by PyTorch's module tree, a shared quantizer's calls numbered
    assert [layers[n] for n in names] == [
        "inp.act_quant",
        "relu.act_quant",
        "block.relu1.act_quant",
        "relu.act_quant, call 2",
        "block.relu_out.act_quant",
    ]


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


def test_a_tie_within_the_derived_error_is_pinned_and_the_rest_checked(exported):
    """A graph whose quantizer rounds one element that lies just above a rounding boundary
    (within its derived float32 error), against a reference that rounded it down: the pin is
    accepted, later quantizers compared with the reference's values computed from the pinned
    tensor, and the output is the one executed from PyTorch's choice."""
    import copy

    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    from fewerbits.core.float_tail import pre_quant_error

    _, w0, x = exported
    w = ModelWrapper(copy.deepcopy(w0.model))
    names = act_calls(w)
    node = {n.name: n for n in w.graph.node}
    q = node[names[2]]  # block.relu1: Conv -> BatchNormalization -> Relu -> Quant
    iname, x0 = w.graph.input[0].name, x[:1]
    ctx = execute_onnx(w, {iname: x0}, True)
    pre = np.asarray(ctx[q.input[0]], np.float64)
    s = float(np.asarray(w.get_initializer(q.input[1])))
    slack = pre_quant_error(w, ctx, q) / s
    e = int(np.argmax(np.where(pre > 0, slack, -1)))
    k = np.floor(pre.flat[e] / s)
    # a scale that puts element e a quarter of its slack above the boundary k + 1/2
    w.set_initializer(q.input[1], np.float32(pre.flat[e] / (k + 0.5 + slack.flat[e] / 4)))
    ctx = execute_onnx(w, {iname: x0}, True)
    s = float(np.asarray(w.get_initializer(q.input[1])))
    over = pre.flat[e] / s - (k + 0.5)
    assert 0 < over <= (pre_quant_error(w, ctx, q) / s).flat[e]  # the tie the test is about
    graph = [np.asarray(ctx[node[n].output[0]]).copy() for n in names]
    assert np.round(graph[2].flat[e] / s) == k + 1
    # the reference: the same evaluation but element e rounded down, the rest from there
    ref = [g.copy() for g in graph]
    ref[2].flat[e] = np.float32(k * s)
    ctx[q.output[0]] = ref[2]
    nodes = list(w.graph.node)
    feed = {t: v for t, v in ctx.items() if v is not None}
    after = execute_onnx(w, feed, True, start_node=nodes[nodes.index(q) + 1])
    for i in range(3, len(names)):
        ref[i] = np.asarray(after[node[names[i]].output[0]])
    p = pinned_check(w, x0, ref, layer_names(w))
    assert p.ok, p.why
    assert p.pins == {names[2]: 1}
    assert np.array_equal(p.output, after[w.graph.output[0].name])
    # the same flip on the reference's side of the boundary by two levels is refused
    ref[2].flat[e] = np.float32((k - 1) * s)
    assert not pinned_check(w, x0, ref, layer_names(w)).ok
