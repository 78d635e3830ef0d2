"""The verification ladder on TFC/SFC/CNV-style nets and an int 4w4a conv net: real MNIST-5k
test images plus inputs crafted onto every reachable first-layer rounding tie, through the real
export, the real FINN flow (with the fix steps) and every level available here; and a broken
graph makes `fewerbits verify` fail, naming the level and the node."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import verify_nets as vn
from qonnx.core.modelwrapper import ModelWrapper

from fewerbits.verify.levels.finn_graphs import FINN_GRAPH_LEVELS

RUN_LEVELS = ("qonnx", "onnxruntime", *FINN_GRAPH_LEVELS)
SKIPPED = ("rtl_nodes", "rtl_stitched", "cppsim", "rtlsim_xsim")
REAL = 24  # real test images per net (plus crafted tie inputs)
SKIP_RTL = ("--skip", "rtl_nodes", "--skip", "rtl_stitched")  # covered by tests/test_rtlsim_*


@pytest.fixture(scope="module")
def mnist() -> np.ndarray:
    from fewerbits.train.datasets import load_dataset

    return load_dataset("mnist-5k").x_test[:REAL].astype(np.float32)


def _topology(name: str, w: int, a: int):
    if name == "tfc":
        return vn.mlp(w, a, in_features=784, hidden=(64, 64, 64)), (1, 28, 28)
    if name == "sfc":
        return vn.mlp(w, a, in_features=784, hidden=(256, 256, 256)), (1, 28, 28)
    if name == "cnv":
        return vn.cnv(w, a, channels=(8, 8), size=28), (1, 28, 28)
    raise AssertionError(name)


NETS = [
    ("tfc", 1, 1),
    ("tfc", 1, 2),
    ("tfc", 2, 2),
    ("sfc", 1, 1),
    ("sfc", 1, 2),
    ("sfc", 2, 2),
    ("cnv", 1, 1),
    ("cnv", 2, 2),
    ("cnv", 4, 4),  # the int 4w4a conv net
]


@pytest.mark.parametrize("name,w,a", NETS, ids=[f"{n}-w{w}a{a}" for n, w, a in NETS])
def test_every_level_bit_exact(name, w, a, mnist, tmp_path):
    model, shape = _topology(name, w, a)
    vn.calibrate(model, mnist)
    x = mnist
    if a > 1:
        ties = vn.craft_first_layer_ties(model, shape, a)
        ties = ties[np.random.default_rng(0).permutation(len(ties))[:32]]
        assert len(ties) and vn.count_ties(model, ties)[0] >= len(ties), "ties not hit"
        x = np.concatenate([ties, mnist])
    export_dir = vn.export_factory_model(model, shape, tmp_path, samples=x)
    res = vn.verify(vn.build(export_dir, until="codegen"), x)
    lv = vn.levels_by_name(res)
    for level in RUN_LEVELS:
        assert lv[level]["status"] == "pass", vn.dump(res)
        assert lv[level]["bit_exact"] == len(x), vn.dump(res)
    for level in SKIPPED:
        assert lv[level]["status"] == "skipped" and lv[level]["reason"]
    assert res["all_passed"]
    assert (tmp_path / "build" / "inputs.verify.json").is_file()
    assert not (tmp_path / "build" / "verify.json").exists(), (
        "a check of other inputs never overwrites the build's verify.json"
    )


# ---- a broken graph -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, np.ndarray]:
    d = tmp_path_factory.mktemp("broken")
    model = vn.mlp(2, 2, in_features=64, hidden=(16, 16), bn=True)
    x = np.random.default_rng(3).integers(0, 256, (40, 1, 8, 8)).astype(np.float32)
    vn.calibrate(model, x)
    vn.build(vn.export_factory_model(model, (1, 8, 8), d, samples=x), until="codegen")
    np.save(d / "x.npy", x)
    return d, x


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fewerbits.cli", *args, "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_verify_cli_passes_on_intact_build(built):
    d, _ = built
    p = _cli("verify", str(d / "build"), "--input", str(d / "x.npy"), *SKIP_RTL)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "verify passed: 6 level(s)" in p.stdout


def test_broken_threshold_fails_naming_level_and_node(built, tmp_path):
    """Change one threshold of one MVAU in the folded graph: verify must fail, non-zero, and
    name folded_hw_graph and that node."""
    from fewerbits.compat.finn import env as finn_env

    d, x = built
    work = tmp_path / "run"
    shutil.copytree(d, work)
    finn_env.prepare_finn(work / "build")
    f = work / "build" / "intermediate_models" / "step_hw_codegen.onnx"
    m = ModelWrapper(str(f))
    # the first layer holding thresholds: an MVAU with embedded thresholds, or (impl_style
    # "rtl", standalone thresholds) a Thresholding layer
    node, idx = next(
        (n, 2 if n.op_type.startswith("MVAU") else 1)
        for n in m.graph.node
        if (n.op_type.startswith("MVAU") and len(n.input) > 2)
        or n.op_type.startswith("Thresholding")
    )
    t = m.get_initializer(node.input[idx]).copy()
    # one channel's thresholds all moved below any accumulator value: that channel is stuck at
    # its highest level (its first threshold is positive, so it is not there for most inputs)
    c = int(np.argmax(t[:, 0]))
    assert t[c][0] > 0
    t[c] = t[c].min() - 100000
    m.set_initializer(node.input[idx], t)
    m.save(str(f))
    p = _cli("verify", str(work / "build"), "--input", str(work / "x.npy"), *SKIP_RTL)
    assert p.returncode == 1, p.stdout + p.stderr
    line = p.stdout.strip().splitlines()[-2]
    assert line.startswith("verify FAILED at level folded_hw_graph"), line
    assert f"first diverging node {node.name}" in line, line
    # ... and the user's PyTorch module that quantizer came from (recorded at export)
    assert ", layer " in line and "act_quant" in line, line


def test_verify_bad_input_one_line(built, tmp_path):
    d, _ = built
    np.save(tmp_path / "bad.npy", np.zeros((3, 5), np.float32))
    p = _cli("verify", str(d / "build"), "--input", str(tmp_path / "bad.npy"))
    assert p.returncode == 1
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "--input" in err[0] and "does not match" in err[0], p.stderr
    p = _cli("verify", str(tmp_path))
    assert p.returncode == 1 and "no export.json" in p.stderr
