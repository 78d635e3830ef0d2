"""Residual adds of two float scales against the post-add quantizer's *exact* boundaries
(hw/build/residual_scales.py ``exact_boundaries``), and a BatchNorm between the add and that
quantizer (absorbed into its thresholds by FINN's streamlining, hw/build/recipes.py).

1. FINN's thresholds of a QuantReLU are float32 values of ``(k + 1/2) * s``, up to ~1.5
   float32 ulp off the exact boundary. For the scales below, found by an exact-rational search
   (:func:`gap_pairs`; seeds 0..7 of the same generator have no such pair), the pair sum
   ``s1*125 + s2*(-21)`` lies between FINN's float32 threshold of step 29 and the exact
   boundary: exact arithmetic takes the step, FINN's float threshold does not. The QONNX graph
   ``Quant(a) + Quant(b) -> Relu -> Quant`` goes through the build's own steps (tagging,
   rounding records, the residual check, FINN's QONNX->FINN conversion and streamlining, the
   two-scale rewrite, the threshold fix) and the result is executed by qonnx on every one of the
   65,536 pairs: every output level equals the exact-arithmetic quantizer's (round half to
   even at exact ties), that pair included. Built against FINN's float thresholds (the code
   before this test), the pair is one level off.
2. A Brevitas-docs-style ResNet block (default quantizers, its own quantizer on each branch,
   ``BatchNorm2d`` after the add, then ``QuantReLU``): export, build and verify exit 0, every
   FINN level bit-exact in the integer domain (rtl_stitched passes too, 25 s more: left out of
   the suite, see docs/user-guide.md "Residual networks"); a sum that forks before its
   quantizer is still refused.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from fewerbits.compat.finn.env import prepare_finn

CLI = [sys.executable, "-m", "fewerbits.cli"]
#: seed 8 of ``10 ** uniform(-2.5, -1.5, 3)`` (float32): the first with a pair in the gap
S1, S2, S_OUT = (
    float(np.float32(v)) for v in 10.0 ** np.random.default_rng(8).uniform(-2.5, -1.5, 3)
)
RA, RB = (0, 255), (-128, 127)  # a QuantReLU branch and a QuantIdentity branch (8 bits)


def finn_thresholds(s_out: float, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """A QuantReLU's thresholds as FINN's handler makes them (float64 ``s/2 + s*k`` narrowed
    to float32), with the build's half-even tie fix (``x >= nextafter(t)`` where the tie goes
    down: the upper level odd); and which steps are strict."""
    k = np.arange(levels - 1)
    t = (np.float64(s_out) / 2 + np.float64(s_out) * k).astype(np.float32)
    strict = (k + 1) % 2 != 0
    return np.where(strict, np.nextafter(t, np.float32(np.inf)), t), strict


def gap_pairs(s1: float, s2: float, s_out: float, levels: int = 256) -> list[tuple]:
    """Exact rationals: every pair ``(a, b, step, exact_up)`` whose sum the float32 threshold of
    a step decides differently from the exact boundary ``(k + 1/2) * s_out`` (half-even ties)."""
    t, strict = finn_thresholds(s_out, levels)
    r1, r2, out = Fraction(s1), Fraction(s2), []
    for k in range(levels - 1):
        bound, tk = Fraction(2 * k + 1, 2) * Fraction(s_out), Fraction(float(t[k]))
        lo, hi = min(bound, tk), max(bound, tk)
        for a in range(RA[0], RA[1] + 1):
            blo, bhi = math.ceil((lo - r1 * a) / r2), math.floor((hi - r1 * a) / r2)
            for b in range(max(blo, RB[0]), min(bhi, RB[1]) + 1):
                x = r1 * a + r2 * b
                up = x > bound if strict[k] else x >= bound
                if up != (x >= tk):
                    out.append((a, b, k, up))
    return out


def exact_levels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The post-add QuantReLU on the exact sum: clip(round_half_even(relu(x) / s_out), 0, 255)."""
    n1, n2, n3 = (Fraction(v) for v in (S1, S2, S_OUT))
    out = []
    for ai, bi in zip(a.tolist(), b.tolist(), strict=True):
        u = max(n1 * ai + n2 * bi, Fraction(0)) / n3
        out.append(min(round(u), 255))  # Fraction.__round__: half to even
    return np.array(out)


def _qonnx_join(n: int):
    """``Quant(a) [UINT8, s1] + Quant(b) [INT8, s2] -> Relu -> Quant [UINT8, s_out]``."""
    from qonnx.core.modelwrapper import ModelWrapper

    def init(name, v):
        return helper.make_tensor(name, TensorProto.FLOAT, np.shape(v), np.ravel(v).tolist())

    def quant(x, s, y, name, signed):
        return helper.make_node(
            "Quant", [x, s, "z", "bits"], [y], name=name, domain="qonnx.custom_op.general",
            signed=signed, narrow=0, rounding_mode="ROUND",
        )  # fmt: skip

    nodes = [
        quant("a", "s1", "qa", "Quant_0", 0),
        quant("b", "s2", "qb", "Quant_1", 1),
        helper.make_node("Add", ["qa", "qb"], ["sum"], name="Add_0"),
        helper.make_node("Relu", ["sum"], ["r"], name="Relu_0"),
        quant("r", "s3", "y", "Quant_2", 0),
    ]
    inits = [init("s1", np.float32(S1)), init("s2", np.float32(S2)), init("s3", np.float32(S_OUT))]
    inits += [init("z", np.float32(0)), init("bits", np.float32(8))]
    vi = [helper.make_tensor_value_info(t, TensorProto.FLOAT, [1, n]) for t in ("a", "b", "y")]
    graph = helper.make_graph(nodes, "join", vi[:2], vi[2:], inits)
    opsets = [helper.make_opsetid("", 13), helper.make_opsetid("qonnx.custom_op.general", 1)]
    return ModelWrapper(helper.make_model(graph, opset_imports=opsets))


def _build_join(model, tmp_path: Path, edit=None):
    """The build's steps from the QONNX model to the exact thresholds (as the plan runs them);
    ``edit(model)`` runs right before ``step_fewerbits_residual_scales``."""
    prepare_finn(tmp_path / "finn")
    from fewerbits.hw.build.quant_tags import carry_tags, tag_quantizers
    from fewerbits.hw.build.recipes import step_fewerbits_residual_check
    from fewerbits.hw.build.residual_scales import step_fewerbits_residual_scales
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from finn.transformation.streamline import Streamline
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    from fewerbits.compat.finn import thresholds as th

    tag_quantizers(model)
    model, _ = th.record_rounding(model)
    model = step_fewerbits_residual_check(model.transform(InferShapes()), None)
    model = model.transform(ConvertQONNXtoFINN())
    carry_tags(model)
    model, _ = th.fix_float_ties(model)
    for t in (GiveUniqueNodeNames(), InferShapes(), InferDataTypes()):
        model = model.transform(t)
    model = th.set_float_type(model, np.float64).transform(Streamline())
    if edit is not None:
        edit(model)
    model = step_fewerbits_residual_scales(model, None)
    return th.fix_thresholds(model)[0]


def test_the_join_decides_a_pair_between_finns_threshold_and_the_exact_boundary(tmp_path):
    gaps = gap_pairs(S1, S2, S_OUT)
    assert (125, -21, 29, True) in gaps, gaps  # the sum is just above the exact boundary
    from qonnx.core.onnx_exec import execute_onnx

    a, b = (g.ravel() for g in np.meshgrid(np.arange(256), np.arange(-128, 128), indexing="ij"))
    model = _build_join(_qonnx_join(a.size), tmp_path)
    assert model.get_nodes_by_op_type("Add") and not model.get_nodes_by_op_type("Quant")
    xa, xb = ((v * np.float32(s)).astype(np.float32)[None, :] for v, s in ((a, S1), (b, S2)))
    ins = dict(zip((i.name for i in model.graph.input), (xa, xb), strict=True))  # renamed
    y = execute_onnx(model, ins)[model.graph.output[0].name].ravel()
    got = np.round(y.astype(np.float64) / S_OUT).astype(np.int64)
    want = exact_levels(a, b)
    i = int(np.flatnonzero((a == 125) & (b == -21))[0])
    assert got[i] == want[i] == 30, (got[i], want[i])  # step 29 taken: level 30
    assert np.array_equal(got, want), np.flatnonzero(got != want)[:10]

    # a recorded quantizer that is not what FINN's thresholds were made from stops the build
    from fewerbits.hw.build import BuildError
    from fewerbits.hw.build.recipes import POST_ADD_QUANTS_KEY

    def wrong_scale(m):
        rec = json.loads(m.get_metadata_prop(POST_ADD_QUANTS_KEY))
        rec["Quant_2"]["scale"] = [S_OUT * 1.001]
        m.set_metadata_prop(POST_ADD_QUANTS_KEY, json.dumps(rec))

    with pytest.raises(BuildError, match="Quant_2: its exact boundary .* is not FINN's threshold"):
        _build_join(_qonnx_join(16), tmp_path, wrong_scale)


BLOCK_PY = """import brevitas.nn as qnn
import torch
import torch.nn as nn


class BnAfterAdd(nn.Module):
    '''A ResNet-style block as Brevitas' docs write one: default quantizers, each branch with
    its own quantizer (two float scales into the add), BatchNorm2d after the add, QuantReLU.'''

    def __init__(self, ch=4, size=8, classes=5):
        super().__init__()
        self.inp = qnn.QuantIdentity(return_quant_tensor=True)
        self.stem = qnn.QuantConv2d(1, ch, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(ch)
        self.relu0 = qnn.QuantReLU(return_quant_tensor=True)
        self.conv1 = qnn.QuantConv2d(ch, ch, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.relu1 = qnn.QuantReLU(return_quant_tensor=True)
        self.conv2 = qnn.QuantConv2d(ch, ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.branch_quant = qnn.QuantIdentity()
        self.shortcut_quant = qnn.QuantIdentity()
        self.bn_add = nn.BatchNorm2d(ch)
        self.relu_out = qnn.QuantReLU(return_quant_tensor=True)
        self.fc = qnn.QuantLinear(ch * size * size, classes, bias=True)

    def forward(self, x):
        x = self.relu0(self.bn0(self.stem(self.inp(x / 255.0))))
        y = self.branch_quant(self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x))))))
        y = self.relu_out(self.bn_add(y + self.shortcut_quant(x)))
        return self.fc(torch.flatten(y, 1))


def bn_after_add():
    torch.manual_seed(0)
    net = BnAfterAdd()
    with torch.no_grad():
        net.bn_add.weight.uniform_(0.5, 1.5)
        net.bn_add.bias.uniform_(-0.2, 0.2)
    net.train()
    with torch.no_grad():
        for _ in range(4):
            net(torch.rand(16, 1, 8, 8) * 255)
    return net.eval()
"""


def _cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=900)


def test_batchnorm_between_the_add_and_its_quantizer_builds_exactly(tmp_path):
    (tmp_path / "net.py").write_text(BLOCK_PY)
    args = ("net.py:bn_after_add", "--input-shape", "1,8,8", "--out", "e", "-q")
    p = _cli("export", *args, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    p = _cli("build", "e", "--out", "b", "--until", "estimates", "-q", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    log = (tmp_path / "b/build.log").read_text()
    assert "checked against its exact boundaries" in log, log[-2000:]
    assert "(branch_quant.act_quant)" in log and "(shortcut_quant.act_quant)" in log

    x = np.random.default_rng(6).integers(0, 256, (8, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    skip = [a for lv in ("rtl_nodes", "rtl_stitched") for a in ("--skip", lv)]
    p = _cli("verify", "b", "--input", "x.npy", *skip, "-q", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    levels = {
        lv["name"]: lv for lv in json.loads((tmp_path / "x.verify.json").read_text())["levels"]
    }
    for name in ("qonnx", "finn_onnx", "streamlined", "hw_graph", "folded_hw_graph"):
        assert levels[name]["status"] == "pass", levels[name]
    for name in ("finn_onnx", "streamlined", "hw_graph", "folded_hw_graph"):
        ints = levels[name]["integers"]  # every quantizer's integers on every sample
        assert ints["samples"] == 8 and ints["tensors"] > 0, ints
        assert ints["boundary_elements"] == 0 and ints["tied_samples"] == [], ints
    ran = [lv for lv in levels.values() if lv["status"] != "skipped"]
    assert all(lv["status"] == "pass" for lv in ran), [(lv["name"], lv["status"]) for lv in ran]

    # the BatchNorm'd sum forking before its quantizer: refused before FINN's conversion
    from fewerbits.hw.build import BuildError
    from fewerbits.hw.build.recipes import step_fewerbits_residual_check
    from qonnx.core.modelwrapper import ModelWrapper

    q = ModelWrapper(str(tmp_path / "e/model.onnx"))
    bn = q.get_nodes_by_op_type("BatchNormalization")[-1]
    q.graph.node.append(helper.make_node("Relu", [bn.output[0]], ["fork"], name="Relu_fork"))
    q.graph.output.append(helper.make_tensor_value_info("fork", TensorProto.FLOAT, None))
    with pytest.raises(BuildError) as e:
        step_fewerbits_residual_check(q, None)
    line = str(e.value)
    assert "\n" not in line and "different scales" in line and "more than one node" in line
