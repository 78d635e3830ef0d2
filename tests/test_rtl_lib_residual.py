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
    assert node.op_type in ("DuplicateStreams_rtl", "AddStreams_rtl"), f"{case}: {node.op_type}"
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
    x = np.random.default_rng(SEED).integers(0, 256, (8, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    p = _cli("verify", "b", "--input", "x.npy", "--skip", "rtl_nodes", "-q", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    res = json.loads((tmp_path / "x.verify.json").read_text())
    levels = {lv["name"]: lv for lv in res["levels"]}
    assert levels["rtl_stitched"]["status"] == "pass", levels["rtl_stitched"]
    for name in (
        "qonnx",
        "finn_onnx",
        "streamlined",
        "hw_graph",
        "folded_hw_graph",
        "rtl_stitched",
    ):
        assert levels[name]["status"] == "pass", levels[name]
    ran = [lv for lv in res["levels"] if lv["status"] != "skipped"]
    assert all(lv["status"] == "pass" for lv in ran), [(lv["name"], lv["status"]) for lv in ran]
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


def test_residual_add_without_shared_quantizer_is_refused_in_one_line(tmp_path):
    """Branches with their own float scales: the sum is no integer of one scale; the build
    stops before FINN's conversion with one line naming the add, and --out is not written."""
    (tmp_path / "net.py").write_text(RESNET_PY)
    p = _cli(
        "export", "net.py:separate", "--input-shape", "1,8,8", "--out", "e", "-q", cwd=tmp_path
    )
    assert p.returncode == 0, p.stderr
    p = _cli("build", "e", "--out", "b", "-q", cwd=tmp_path)
    assert p.returncode == 1
    line = p.stderr.strip().splitlines()
    assert len(line) == 1 and "residual add Add_0" in line[0] and "different scales" in line[0], (
        p.stderr
    )
    assert not (tmp_path / "b").exists()


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
