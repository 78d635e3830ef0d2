"""Exporting models users write: Brevitas' default quantizers, any input datatype, factories
that import their siblings, and a reference that `verify` can rebuild without --weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from fewerbits.export.exporter import ExportError, export, random_inputs, source_model

CLI = [sys.executable, "-m", "fewerbits.cli"]

SIBLING = '''import brevitas.nn as qnn
import torch.nn as nn


def block(n_in, n_out):
    """Brevitas' defaults: Int8WeightPerTensorFloat weights, Uint8ActPerTensorFloat ReLU."""
    return [qnn.QuantLinear(n_in, n_out, bias=True), qnn.QuantReLU()]
'''

FACTORY = """import brevitas.nn as qnn
import torch.nn as nn
from layers import block  # a sibling module of this file


def make():
    return nn.Sequential(
        qnn.QuantIdentity(), nn.Flatten(), *block(16, 8), qnn.QuantLinear(8, 4, bias=True)
    )
"""


@pytest.fixture
def factory(tmp_path: Path) -> str:
    (tmp_path / "layers.py").write_text(SIBLING)
    (tmp_path / "net.py").write_text(FACTORY)
    return f"{tmp_path / 'net.py'}:make"


def test_random_inputs_follow_the_datatype():
    assert set(np.unique(random_inputs("BIPOLAR", (4,), 50))) == {-1.0, 1.0}
    u = random_inputs("UINT8", (4,), 200)
    assert u.min() >= 0 and u.max() <= 255 and np.all(u == np.rint(u))
    f = random_inputs("FIXED<8,4>", (4,), 50)
    assert np.all(f * 16 == np.rint(f * 16)) and f.min() >= -8 and f.max() < 8
    assert random_inputs("FLOAT32", (4,), 50).std() > 0.5
    with pytest.raises(ExportError, match="--input-datatype 'NOPE8'"):
        random_inputs("NOPE8", (4,), 1)
    with pytest.raises(ExportError, match="--input-datatype UINT40: wider than 32 bits"):
        random_inputs("UINT40", (4,), 1)


def test_default_quantizer_factory_exports_and_reference_is_reproducible(factory, tmp_path):
    """No --weights: the parameters are random, so export saves them; the reference `verify`
    rebuilds (source_model) computes exactly what was exported."""
    torch.manual_seed(0)
    out = tmp_path / "e"
    info = export({"factory": factory}, out, (1, 4, 4), input_dtype="FLOAT32")
    check = info["verification"][0]
    assert check["status"] == "pass" and check["samples"] == 100
    # every quantizer node is mapped back to the user's module (for divergence reports)
    assert set(info["layer_names"].values()) >= {"0.act_quant", "2.weight_quant", "3.act_quant"}
    state = Path(info["source"]["state"])
    assert state.is_file() and state.parent == out
    torch.manual_seed(123)  # a different random init: only the saved state can reproduce it
    x = torch.from_numpy(random_inputs("FLOAT32", (1, 4, 4), 10, seed=1))
    first = source_model(info["source"])(x)
    again = source_model(json.loads((out / "export.json").read_text())["source"])(x)
    assert torch.equal(first, again)


def test_bad_input_datatype_is_one_line_and_writes_nothing(factory, tmp_path):
    out = tmp_path / "e"
    p = subprocess.run(
        [*CLI, "export", factory, "--input-shape", "1,4,4", "--input-datatype", "NOPE8"]
        + ["--out", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "--input-datatype 'NOPE8'" in lines[0], p.stderr
    assert not out.exists()
