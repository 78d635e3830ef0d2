"""The derived float-tail bound (fewerbits/core/float_tail.py) on a real exported model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from fewerbits.export.exporter import export, random_inputs, source_model

from fewerbits.core.compare import compare
from fewerbits.core.float_tail import U, tail_bound
from fewerbits.verify import pytorch_reference

NET_PY = """import brevitas.nn as qnn
import torch.nn as nn


def make():
    # Brevitas' default quantizers (float scales), a bias and a BatchNorm at the output
    return nn.Sequential(
        qnn.QuantIdentity(), nn.Flatten(), qnn.QuantLinear(16, 8, bias=True),
        qnn.QuantReLU(), qnn.QuantLinear(8, 4, bias=True), nn.BatchNorm1d(4),
    )


def make_int_out():
    return nn.Sequential(
        qnn.QuantIdentity(), nn.Flatten(), qnn.QuantLinear(16, 4, bias=False), qnn.QuantReLU(),
    )
"""


def _export(tmp_path: Path, name: str):
    (tmp_path / "net.py").write_text(NET_PY)
    torch.manual_seed(0)
    info = export({"factory": f"{tmp_path / 'net.py'}:{name}"}, tmp_path / name, (1, 4, 4))
    x = random_inputs("UINT8", (1, 4, 4), 10, seed=3)
    return tmp_path / name / "model.onnx", x, pytorch_reference(source_model(info["source"]), x)


def test_bound_is_tight_enough_to_catch_errors_and_loose_enough_for_rounding(tmp_path):
    model, x, ref = _export(tmp_path, "make")
    bound = tail_bound(model, x, ref)
    assert bound is not None and bound.shape == ref.shape and np.all(bound > 0)
    # a re-associated evaluation differs by a few roundings: within the bound
    rounded = (ref.astype(np.float64) * (1 + 4 * U)).astype(np.float32)
    assert compare("l", ref, rounded, abs_bound=bound).status == "pass"
    # a real error (one accumulator step at the smallest output scale is far larger) fails
    assert compare("l", ref, ref + 10 * bound.astype(np.float32), abs_bound=bound).status == (
        "fail"
    )
    # and the bound is a small fraction of the outputs, not a blanket tolerance
    assert np.max(bound / (np.abs(ref) + 1e-3)) < 1e-3


def test_integer_output_has_no_float_tail(tmp_path):
    model, x, ref = _export(tmp_path, "make_int_out")
    assert tail_bound(model, x, ref) is None
