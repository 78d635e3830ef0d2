"""The verification ladder pairs FINN's thresholding nodes with the exported quantizers by
identity (hw/build/quant_tags.py), never by position.

On a downsampling residual block (fewerbits.train.resnet, both fork branches threshold, as in
Brevitas' ResNet-18) FINN's streamlined graph orders the two branches the other way round from
the QONNX graph: pairing by position compares the wrong tensors there."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fewerbits.verify.ladder import PairingError, locate_divergence, paired
from fewerbits.verify.level import ActivationTrace

NET_PY = """import torch

from fewerbits.train.resnet import TinyResNet


def down():
    torch.manual_seed(0)
    net = TinyResNet(ch=4, size=8, classes=5, pool=False, downsample=True)
    net.train()
    with torch.no_grad():
        for _ in range(4):
            net(torch.rand(16, 1, 8, 8) * 255)
    return net.eval()
"""
STREAMLINED = "intermediate_models/step_fewerbits_fix_thresholds.onnx"


def _t(node: str, tag: str | None = None) -> ActivationTrace:
    return ActivationTrace(node, np.zeros((1, 2)), tag=tag)


def test_pairing_is_by_tag_in_reference_order_and_refuses_unknown_nodes():
    ref = [_t("Quant_5"), _t("Quant_7"), _t("Quant_8"), _t("Quant_9")]
    # FINN's order differs, and the input quantizer Quant_5 was dropped by the build
    got = [_t("MT_0", "Quant_8"), _t("MT_1", "Quant_7"), _t("MT_2", "Quant_9")]
    pairs = [(r.node, g.node) for r, g in paired(ref, got)]
    assert pairs == [("Quant_7", "MT_1"), ("Quant_8", "MT_0"), ("Quant_9", "MT_2")]
    # a quantizer the build made itself (a TruncAvgPool's rounding) has no pair, knowingly
    built = [*got, _t("MT_3", "built:Trunc_0")]
    assert [(r.node, g.node) for r, g in paired(ref, built)] == pairs
    with pytest.raises(PairingError, match="MT_9 carries no quantizer tag.*not paired by posi"):
        paired(ref, [*got, _t("MT_9")], "streamlined")
    with pytest.raises(PairingError, match="MT_9 is tagged with quantizer Quant_42"):
        paired(ref, [*got, _t("MT_9", "Quant_42")])
    with pytest.raises(PairingError, match="MT_1 and MT_9 both carry quantizer Quant_7"):
        paired(ref, [*got, _t("MT_9", "Quant_7")])


@pytest.fixture(scope="module")
def down_block(tmp_path_factory) -> Path:
    """A downsampling residual block exported and built (through the estimates)."""
    d = tmp_path_factory.mktemp("down")
    (d / "net.py").write_text(NET_PY)
    cli = [sys.executable, "-m", "fewerbits.cli"]
    for args in (
        ("export", f"{d / 'net.py'}:down", "--input-shape", "1,8,8", "--out", "e"),
        ("build", "e", "--out", "b", "--until", "estimates"),
    ):
        p = subprocess.run([*cli, *args, "-q"], cwd=d, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    x = np.random.default_rng(6).integers(0, 256, (4, 1, 8, 8)).astype(np.float32)
    np.save(d / "x.npy", x)
    return d


def _reordered(model) -> list:
    """Another topological order of ``model``'s nodes: of the nodes ready, the last first."""
    nodes = list(model.graph.node)
    made = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer}
    order = []
    while nodes:
        ready = [n for n in nodes if all(i in made or not i for i in n.input)]
        n = ready[-1]
        order.append(n)
        nodes.remove(n)
        made.update(n.output)
    return order


def _levels(d: Path, build: Path):
    from fewerbits.core.artifacts import BuildDir, ExportDir
    from fewerbits.verify.levels.finn_graphs import StreamlinedLevel
    from fewerbits.verify.levels.qonnx import QonnxLevel

    return QonnxLevel(ExportDir(d / "e")), StreamlinedLevel(ExportDir(d / "e"), BuildDir(build))


def test_fork_branches_pair_by_identity_and_a_wrong_threshold_names_its_layer(down_block, tmp_path):
    from fewerbits.hw.build.quant_tags import node_tag, set_tag

    from fewerbits.compat.finn.env import prepare_finn
    from fewerbits.verify import verify_directory

    d = down_block
    x1 = np.load(d / "x.npy")[:1]
    qonnx, streamlined = _levels(d, d / "b")
    ref, got = qonnx.trace(x1), streamlined.trace(x1)
    layer = {r.node: r.layer for r in ref}
    # FINN orders the fork's branches differently: position would pair the wrong tensors
    order = [r.node for r in ref if r.node in {g.tag for g in got}]
    assert [g.tag for g in got] != order, "no reordered fork: the test shows nothing"
    assert sorted(g.tag for g in got) == sorted(order)
    pairs = {(r.node, g.node) for r, g in paired(ref, got)}
    assert len(pairs) == len(got)

    # the same graph with its nodes in another topological order still pairs the same way
    prepare_finn(tmp_path / "finn")
    from qonnx.core.modelwrapper import ModelWrapper

    build = tmp_path / "b"
    shutil.copytree(d / "b", build)
    m = ModelWrapper(str(build / STREAMLINED))
    order2 = _reordered(m)
    assert [n.name for n in order2] != [n.name for n in m.graph.node]
    del m.graph.node[:]
    m.graph.node.extend(order2)
    # ... and the thresholds of the shortcut's quantizer (the user's block.downsample.2, first
    # call; in this order it comes after the other branch's) moved below every input: that
    # quantizer is stuck at its highest level
    name = "block.downsample.2.act_quant"
    mt = next(n for n in m.graph.node if node_tag(m, n) and layer[node_tag(m, n)] == name)
    t = m.get_initializer(mt.input[1])
    m.set_initializer(mt.input[1], np.full_like(t, -1e6))
    m.save(str(build / STREAMLINED))
    _, level = _levels(d, build)
    got2 = level.trace(x1)
    assert [g.node for g in got2] != [g.node for g in got]
    assert [g.tag for g in got2] != order, "position would pair this order right"
    assert {(r.node, g.node) for r, g in paired(ref, got2)} == pairs
    where = locate_divergence(qonnx, level, x1)
    assert where.startswith(f"{mt.name} (integer output differs from {node_tag(m, mt)}"), where
    assert where.endswith(f"layer {name})"), where

    # the threshold fix after streamlining takes each MultiThreshold's rounding record by the
    # same identity (the records are in export order, the nodes in FINN's)
    from fewerbits.compat.finn.thresholds import _records, _records_by_identity

    m = ModelWrapper(str(d / "b" / "intermediate_models" / "step_streamline.onnx"))
    mts = [n for n in m.graph.node if n.op_type == "MultiThreshold"]
    recs = _records(m)
    assert [r["node"] for r in recs] != [node_tag(m, n) for n in mts]
    assert [r["node"] for r in _records_by_identity(m, recs, mts)] == [node_tag(m, n) for n in mts]

    # the intact build passes with its integer activations checked; without the tags it is
    # refused in one line, not paired by position
    skip = ("onnxruntime", "finn_onnx", "hw_graph", "folded_hw_graph", "rtl_nodes", "rtl_stitched")
    res = verify_directory(
        d / "b", d / "x.npy", progress=False, skip=skip, out_file=tmp_path / "v.json"
    )
    lv = {r["name"]: r for r in res["levels"]}
    assert lv["streamlined"]["status"] == "pass", lv["streamlined"]
    assert "integer activations bit-exact" in lv["streamlined"]["reason"], lv["streamlined"]
    m = ModelWrapper(str(d / "b" / STREAMLINED))
    for n in m.graph.node:
        for i in n.input:
            set_tag(m, i, None)
    m.save(str(build / STREAMLINED))
    res = verify_directory(
        build, d / "x.npy", progress=False, skip=skip, out_file=tmp_path / "w.json"
    )
    lv = {r["name"]: r for r in res["levels"]}
    assert lv["streamlined"]["status"] == "fail", lv["streamlined"]
    assert "carries no quantizer tag" in lv["streamlined"]["reason"], lv["streamlined"]
