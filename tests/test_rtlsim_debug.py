"""Debugging a mismatch on the demo accelerator: a weight file of one layer is mutated, the
``rtl_stitched`` level fails, and its result names that layer (the first whose output stream
differs from FINN's Python execution, compared word by word on the tapped inter-layer streams)
and, with the waveform option, points at an FST file around the first wrong word."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rtlsim_graphs import rtlsim_cache  # noqa: F401 - session fixture

FRAMES = 24


def _flip_weights(dat: Path) -> str:
    """Flip two bits of every weight word of ``dat`` (hex, one word per line); the original."""
    original = dat.read_text()
    lines = original.split("\n")
    width = len(lines[0])
    mask = int("11" * (width // 2), 16)
    dat.write_text("\n".join(format(int(v, 16) ^ mask, f"0{width}x") if v else v for v in lines))
    return original


def test_mutated_weights_name_the_layer_and_write_a_waveform(demo_run: Path, rtlsim_cache):  # noqa: F811
    import torch
    from fewerbits.hw.rtlsim.sim import BuildGraphs
    from fewerbits.train.datasets import load_dataset
    from fewerbits.train.trainer import load_checkpoint
    from qonnx.custom_op.registry import getCustomOp

    from fewerbits.core.artifacts import BuildDir
    from fewerbits.verify import run_ladder
    from fewerbits.verify.ladder import localize
    from fewerbits.verify.levels.rtl import RtlStitchedLevel

    model, _ = load_checkpoint(demo_run / "train")
    x = load_dataset("mnist-5k").x_test[:FRAMES].astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    build = demo_run / "build"
    g = BuildGraphs(build)
    # a middle layer: the layers before it must be found correct, the ones after it are not
    node = [n for n in g.nodes if n.op_type == "MVAU_rtl"][1]
    gen = Path(getCustomOp(node).get_nodeattr("code_gen_dir_ipgen"))
    [dat] = sorted(gen.glob("*.dat"))  # the weight memory (memblock.dat)
    level = RtlStitchedLevel(None, BuildDir(build))
    level.waveform = True
    wave = BuildDir(build).rtlsim.absolute() / "mismatch" / "mismatch.fst"
    wave.unlink(missing_ok=True)
    original = _flip_weights(dat)
    try:
        results = run_ladder(ref, x, [level])
        assert results[0].status == "fail"
        localize(results, [level], x, None)
    finally:
        dat.write_text(original)
    where = results[0].node
    assert where.startswith(f"{node.name} (MVAU_rtl): output stream differs"), where
    assert "rtl [" in where and "!= python [" in where
    # the waveform exists, is an FST file (block type 0 = header first) and is named with the
    # command that opens it
    assert wave.is_file() and wave.stat().st_size > 1000
    assert wave.read_bytes()[0] == 0
    assert f"gtkwave {wave}" in where
    # restored weights: every stream agrees again
    from fewerbits.hw.rtlsim.locate import locate_mismatch

    mid = level.stitched.partition_inputs(x[:4])
    ok = locate_mismatch(build, mid, BuildDir(build).rtlsim / "ok", stitched=level.stitched)
    assert ok.layer is None, ok.line()
