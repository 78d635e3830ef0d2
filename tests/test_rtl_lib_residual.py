"""The residual layers of fewerbits' RTL library (DuplicateStreams_rtl, AddStreams_rtl) at node
level on Verilator, and the residual recipe (hw/build/recipes.py) on a ResNet-style block.

Node tests: a single-node graph with FINN's base op (as FINN's convert_to_hw makes it), routed
by the build's implementation-style rule, FINN's PrepareIP, then every output of every port
compared with FINN's Python execution, bit-exact, under random harness stalls plus independent
pseudo-random stalls on each port (hw/rtlsim/design.port_test_design). A mutation of the
generated wrapper (one output's data inverted, an operand's signedness flipped) must be caught.
Configurations come from a seeded generator (FEWERBITS_RTLSIM_SEED to vary them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rtlsim_graphs as rg
from fewerbits.hw.build import impl_style
from rtlsim_graphs import rtlsim_cache  # noqa: F401 - session fixture

from fewerbits.compat.finn.env import prepare_finn

SEED = int(os.environ.get("FEWERBITS_RTLSIM_SEED", "6"))
CLI = [sys.executable, "-m", "fewerbits.cli"]


def codegen(model, work: Path):
    """The build's rule (library ops first, then FINN's SpecializeLayers), then PrepareIP."""
    prepare_finn(work)
    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.transformation.general import GiveUniqueNodeNames

    model = impl_style.route_to_rtl_lib(model)
    model = model.transform(SpecializeLayers(rg.PART_7))
    model = model.transform(GiveUniqueNodeNames())
    return model.transform(PrepareIP(rg.PART_7, rg.CLK_NS))


#: layer -> (graph maker, mutation of the generated wrapper: old text, new text)
CASES = {
    "dup": (rg.duplicate_streams, ("assign out1_V_TDATA = ", "assign out1_V_TDATA = ~")),
    "add": (lambda r: rg.add_streams(r, signed=True), (".B_SIGNED(1)", ".B_SIGNED(0)")),
    "mul": (rg.mul_const, (".C(", ".C(1 + ")),
}


@pytest.mark.usefixtures("rtlsim_cache")
@pytest.mark.parametrize("case", list(CASES))
def test_residual_layer_matches_python_and_mutation_is_caught(case, tmp_path):
    """A random configuration bit-exact under stalls; then one output of the fork inverted /
    the add's second operand read unsigned in the generated wrapper: a mismatch."""
    from fewerbits.hw.rtlsim.sim import simulate_node

    make, (old, new) = CASES[case]
    rng = np.random.default_rng([SEED, 13, list(CASES).index(case)])
    model, _, desc = make(rng)
    model = codegen(model, tmp_path / "finn")
    node = model.graph.node[0]
    assert node.op_type in ("DuplicateStreams_rtl", "AddStreams_rtl", "MulConst_rtl"), (
        f"{case}: {node.op_type}"
    )
    stall = (int(rng.integers(0, 60)), int(rng.integers(0, 60)))
    res = simulate_node(model, node, tmp_path / "sim", frames=4, stall=stall, seed=SEED)
    print(f"{case}: {desc}, stalls {stall}: {res.exact}/{res.outputs} exact")
    assert res.status == "pass", f"{case} ({desc}): {res.reason}"
    assert res.outputs > 0 and res.exact == res.outputs
    assert len(res.port_arrays) == len(node.output)
    _mutate_wrapper(model, node, old, new)
    bad = simulate_node(model, node, tmp_path / "sim1", frames=4, stall=stall, seed=SEED)
    assert bad.status == "fail", f"{case}: mutation {new!r} not caught ({desc})"


def _mutate_wrapper(model, node, old: str, new: str) -> None:
    from qonnx.custom_op.registry import getCustomOp

    inst = getCustomOp(node)
    f = Path(inst.get_nodeattr("code_gen_dir_ipgen")) / f"{node.name}_wrapper.v"
    text = f.read_text()
    assert old in text, f"{old!r} not in the generated wrapper"
    f.write_text(text.replace(old, new))


RESNET_PY = """import torch

from fewerbits.train.resnet import TinyResNet


def _calibrated(net):
    torch.manual_seed(0)
    net.train()
    with torch.no_grad():
        for _ in range(4):
            net(torch.rand(16, 1, 8, 8) * 255)
    return net.eval()


def shared():
    torch.manual_seed(0)
    return _calibrated(TinyResNet(ch=4, size=8, classes=5, pool=False, shared=True))


def separate():
    torch.manual_seed(0)
    return _calibrated(TinyResNet(ch=4, size=8, classes=5, pool=False, shared=False))
"""


def _cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=900)


def _verify_all_levels_pass(tmp_path: Path) -> np.ndarray:
    """`fewerbits verify b` on 8 random pixel inputs (rtl_nodes left out: node tests cover it):
    exit 0, every FINN level and rtl_stitched pass, no level that ran fails; the inputs."""
    x = np.random.default_rng(SEED).integers(0, 256, (8, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    p = _cli("verify", "b", "--input", "x.npy", "--skip", "rtl_nodes", "-q", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    res = json.loads((tmp_path / "x.verify.json").read_text())
    levels = {lv["name"]: lv for lv in res["levels"]}
    for name in ("qonnx", "finn_onnx", "streamlined", "hw_graph", "folded_hw_graph"):
        assert levels[name]["status"] == "pass", levels[name]
    assert levels["rtl_stitched"]["status"] == "pass", levels["rtl_stitched"]
    ran = [lv for lv in res["levels"] if lv["status"] != "skipped"]
    assert all(lv["status"] == "pass" for lv in ran), [(lv["name"], lv["status"]) for lv in ran]
    return x


@pytest.mark.usefixtures("rtlsim_cache")
def test_resnet_block_exports_builds_and_verifies_all_rtl(tmp_path):
    """A ResNet-style block with Brevitas' default quantizers through `fewerbits export`,
    `build` and `verify`: exit 0, the fork and the join are this library's RTL (the whole
    accelerator RTL), every level that runs passes with integer activations bit-exact, and the
    stitched accelerator is simulated (rtl_nodes is covered node by node above)."""
    (tmp_path / "net.py").write_text(RESNET_PY)
    p = _cli("export", "net.py:shared", "--input-shape", "1,8,8", "--out", "e", "-q", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    p = _cli("build", "e", "--out", "b", "-q", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    from qonnx.core.modelwrapper import ModelWrapper

    prepare_finn(tmp_path / "finn")
    ops = [
        n.op_type
        for n in ModelWrapper(
            str(tmp_path / "b/intermediate_models/step_hw_codegen.onnx")
        ).graph.node
    ]
    assert {"DuplicateStreams_rtl", "AddStreams_rtl"} <= set(ops), ops
    assert all(o.endswith("_rtl") for o in ops), ops
    x = _verify_all_levels_pass(tmp_path)
    # FIFO sizing by simulation handles pipelines only: refused in one line, nothing written
    p = _cli("fifo", "b", "-q", cwd=tmp_path)
    assert p.returncode == 1 and "forks and joins" in p.stderr, p.stderr
    assert not (tmp_path / "b" / "fifo.json").exists()
    # a wrong weight inside the residual branch: the debug model (every output port of every
    # layer tapped) names that layer, the fork before it and the stem found correct
    from fewerbits.hw.rtlsim.locate import locate_mismatch
    from fewerbits.hw.rtlsim.sim import Stitched
    from qonnx.custom_op.registry import getCustomOp
    from test_rtlsim_debug import _flip_weights

    st = Stitched(tmp_path / "b")
    fork = ops.index("DuplicateStreams_rtl")
    node = next(n for n in st.graphs.nodes[fork:] if n.op_type == "MVAU_rtl")
    gen = Path(getCustomOp(node).get_nodeattr("code_gen_dir_ipgen"))
    dat = sorted(gen.glob("*memblock*.dat")) or sorted(gen.glob("*.dat"))
    mid = st.partition_inputs(x[:4])
    original = _flip_weights(dat[0])
    try:
        found = locate_mismatch(tmp_path / "b", mid, tmp_path / "locate", True, stitched=st)
    finally:
        dat[0].write_text(original)
    assert found.layer == node.name and found.op_type == "MVAU_rtl", found.line()
    assert "output stream differs" in found.line()
    assert found.waveform.is_file() and found.waveform.read_bytes()[0] == 0  # an FST file
    ok = locate_mismatch(tmp_path / "b", mid, tmp_path / "locate_ok", stitched=st)
    assert ok.layer is None, ok.line()


@pytest.mark.usefixtures("rtlsim_cache")
def test_resnet_block_with_two_scales_builds_exactly_all_rtl(tmp_path):
    """The residual branch with its own QuantReLU (two float scales into the add, Brevitas'
    defaults): `fewerbits export`, `build` and `verify` exit 0, the join is an integer
    weighted sum (MulConst_rtl weights, AddStreams_rtl) in an all-RTL accelerator, and every
    level that runs passes with the post-add quantizer's integers compared by identity. Then
    the rewrite made wrong (a branch weight one off in the streamlined model) fails the
    streamlined level at that quantizer, and a sum that is not quantized right after the add
    is refused in one line naming the add and both quantizers. The verifier's slack at the
    post-add quantizer is the join's derived float32 error."""
    (tmp_path / "net.py").write_text(RESNET_PY)
    p = _cli(
        "export", "net.py:separate", "--input-shape", "1,8,8", "--out", "e", "-q", cwd=tmp_path
    )
    assert p.returncode == 0, p.stderr
    p = _cli("build", "e", "--out", "b", "-q", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    log = (tmp_path / "b/build.log").read_text()
    assert "residual add Add_0 of Quant_7 (block.relu2.act_quant)" in log, log[-2000:]
    from fewerbits.hw import rtl_lib
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    prepare_finn(tmp_path / "finn")
    rtl_lib.register()
    hw = ModelWrapper(str(tmp_path / "b/intermediate_models/step_hw_codegen.onnx"))
    ops = [n.op_type for n in hw.graph.node]
    assert {"DuplicateStreams_rtl", "AddStreams_rtl", "MulConst_rtl"} <= set(ops), ops
    assert all(o.endswith("_rtl") for o in ops), ops
    add = hw.get_nodes_by_op_type("AddStreams_rtl")[0]
    assert getCustomOp(add).get_output_datatype().bitwidth() <= 24  # exact in float32
    x = _verify_all_levels_pass(tmp_path)

    # a wrong weight: the post-add quantizer's integers differ from PyTorch's
    f = tmp_path / "b/intermediate_models/step_fewerbits_fix_thresholds.onnx"
    m = ModelWrapper(str(f))
    mul = next(
        n
        for n in m.graph.node
        if n.op_type == "Mul" and m.find_consumer(n.output[0]).op_type == "Add"
    )
    w = m.get_initializer(mul.input[1])
    m.set_initializer(mul.input[1], w + 1)
    m.save(str(f))
    skip = [
        a
        for lv in ("hw_graph", "folded_hw_graph", "rtl_nodes", "rtl_stitched")
        for a in ("--skip", lv)
    ]
    p = _cli("verify", "b", "--input", "x.npy", *skip, "-q", cwd=tmp_path)
    assert p.returncode == 1, p.stdout + p.stderr
    res = json.loads((tmp_path / "x.verify.json").read_text())
    bad = {lv["name"]: lv for lv in res["levels"]}["streamlined"]
    assert bad["status"] == "fail" and "block.relu_out" in (bad.get("node") or ""), bad

    # the verifier's slack at the post-add quantizer: the join's derived float32 error
    from qonnx.core.onnx_exec import execute_onnx

    from fewerbits.core.float_tail import U, pre_quant_error

    q = ModelWrapper(str(tmp_path / "e/model.onnx"))
    ctx = execute_onnx(q, {q.graph.input[0].name: x[:1]}, True)
    add = next(
        n for n in q.graph.node if n.op_type == "Add" and q.get_initializer(n.input[1]) is None
    )
    after = q.find_consumer(q.find_consumer(add.output[0]).output[0])  # Relu -> Quant
    err = pre_quant_error(q, ctx, after)
    parts = sum(np.abs(ctx[t].astype(np.float64)) for t in add.input)
    assert err is not None and np.all(err >= 2 * U * parts) and np.all(err <= 8 * U * parts + 1e-30)

    # the sum into a max-pool before its quantizer: refused before FINN's conversion
    from fewerbits.hw.build import BuildError
    from fewerbits.hw.build.recipes import step_fewerbits_residual_check
    from onnx import helper

    q = ModelWrapper(str(tmp_path / "e/model.onnx"))
    add = next(
        n for n in q.graph.node if n.op_type == "Add" and q.get_initializer(n.input[1]) is None
    )
    relu = q.find_consumer(add.output[0])
    pool = helper.make_node("MaxPool", [add.output[0]], ["pooled"], kernel_shape=[1, 1])
    relu.input[0] = "pooled"
    q.graph.node.insert(list(q.graph.node).index(relu), pool)
    with pytest.raises(BuildError) as e:
        step_fewerbits_residual_check(q, None)
    line = str(e.value)
    assert "\n" not in line and "residual add Add_0" in line and "different scales" in line
    assert "block.relu2.act_quant" in line and "relu.act_quant" in line and "MaxPool" in line


def test_without_the_recipe_finn_refuses_the_fork(tmp_path, monkeypatch):
    """FINN's default streamlining alone leaves the shared scale in front of the fork: the
    recipe step is what makes the block build."""
    from fewerbits.export.exporter import export
    from fewerbits.hw.build import BuildError, build
    from fewerbits.hw.build import steps as S

    from fewerbits.core.config import BuildConfig

    (tmp_path / "net.py").write_text(RESNET_PY)
    export({"factory": f"{tmp_path / 'net.py'}:shared"}, tmp_path / "e", (1, 8, 8))
    monkeypatch.setattr(S, "SOFTWARE_STEPS", [s for s in S.SOFTWARE_STEPS if s != S.RESIDUAL])
    with pytest.raises(BuildError, match="cannot convert node"):
        build(
            tmp_path / "e" / "model.onnx",
            tmp_path / "b",
            BuildConfig(until="estimates"),
            progress=False,
        )
