"""Shared fixtures of the synthesis tests: one codegen'd node per RTL op type, and a tiny
all-RTL build (784 -> 8 -> 10, w2a2) made by the real pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rtlsim_graphs as graphs

TINY_NET = Path(__file__).with_name("tiny_net.py")

#: op -> graph maker (tests/rtlsim_graphs.py)
MAKERS = {
    "mvau": lambda rng: graphs.mvau(rng, False, True),
    "thresholding": lambda rng: graphs.thresholding(rng, False),
    "dwc": graphs.dwc,
    "fifo": graphs.fifo,
    # this project's RTL layer library (hw/rtl_lib): one small node of each
    "mvau_binary": lambda rng: graphs.mvau_binary(rng, True),
    "maxpool": graphs.maxpool,
    "label_select": graphs.label_select,
    "duplicate_streams": graphs.duplicate_streams,
    "add_streams": graphs.add_streams,
    "mul_const": graphs.mul_const,
    "vvau": graphs.vvau,
    "vvau_thresholds": lambda rng: graphs.vvau(rng, fixed={"c": 6, "pe": 3}, thresholds=True),
    "global_acc_pool": lambda rng: graphs.global_acc_pool(rng, signed=True),
    "avgpool_trunc": graphs.avgpool_trunc,
}


@pytest.fixture(scope="session")
def node_designs(tmp_path_factory) -> dict:
    """op -> NodeDesign of FINN's code generation of one small node (seeded)."""
    from fewerbits.hw.build import impl_style
    from fewerbits.hw.rtlsim import design

    from fewerbits.compat.finn.env import prepare_finn

    work = tmp_path_factory.mktemp("synth_codegen")
    prepare_finn(work)
    out = {}
    for op, make in MAKERS.items():
        model, part, _ = make(np.random.default_rng(1))
        model = impl_style.route_to_rtl_lib(model, part)  # the build's rule: library ops first
        model = graphs.codegen(model, part, work)
        out[op] = design.node_design(model, model.graph.node[0])
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """`fewerbits run` of the tiny net (one short epoch; software levels only)."""
    from fewerbits.core.config import RunConfig, TrainConfig
    from fewerbits.pipeline import run

    out = tmp_path_factory.mktemp("tiny") / "run"
    train = TrainConfig(model=f"{TINY_NET}:tiny", epochs=1, max_steps=50)
    cfg = RunConfig(train=train, verify_samples=20, verify_skip=["rtl_nodes", "rtl_stitched"])
    run(cfg, out, progress=False)
    return out


@pytest.fixture(scope="session")
def ulx3s_build(tiny_run, tmp_path_factory) -> Path:
    """The tiny net built for ULX3S-85F: FINN stops after code generation, the open tools
    build the board bitstream (UART wrapper + accelerator, hw/board)."""
    from fewerbits.hw.build import build

    from fewerbits.core.artifacts import ExportDir
    from fewerbits.core.config import BuildConfig

    out = tmp_path_factory.mktemp("ulx3s") / "build"
    build(ExportDir(tiny_run / "export").model, out, BuildConfig(board="ULX3S-85F"), progress=False)
    return out
