"""`fewerbits export`: checkpoint and file.py:factory exports, export.json, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

CLI = [sys.executable, "-m", "fewerbits.cli"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args, "-q"], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A real (1 short epoch) TFC w2a2 checkpoint on MNIST-5k."""
    from fewerbits.train.trainer import train

    from fewerbits.core.config import TrainConfig

    out = tmp_path_factory.mktemp("ckpt")
    train(TrainConfig(epochs=1, max_steps=5), out, progress=False)
    return out / "checkpoint.pt"


def test_export_checkpoint(checkpoint, tmp_path):
    p = _cli("export", str(checkpoint), "--out", str(tmp_path / "e"))
    assert p.returncode == 0, p.stderr
    info = json.loads((tmp_path / "e" / "export.json").read_text())
    assert info["opset"] >= 11 and info["nodes"]["Quant"] >= 4
    assert info["input"]["datatype"] == "UINT8" and info["input"]["shape"] == [1, 1, 28, 28]
    assert info["output"]["shape"] == [1, 10]
    check = info["verification"][0]
    assert check["name"] == "qonnx" and check["samples"] == 100
    assert check["bit_exact"] == 100, "power-of-two scales: PyTorch == QONNX bit for bit"
    assert info["source"]["checkpoint"] == str(checkpoint.absolute())
    assert (tmp_path / "e" / "model.onnx").stat().st_size > 0


def test_export_factory_with_weights(tmp_path):
    (tmp_path / "net.py").write_text(
        "import torch.nn as nn, brevitas.nn as qnn\n"
        "from fewerbits.train.schemes import make_scheme\n"
        "from fewerbits.train.models import MLP\n\n"
        "def make():\n"
        "    return MLP(make_scheme('int', 3, 3), 36, (12,), 4)\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import net  # noqa: F401 - the same factory, to write its weights
    finally:
        sys.path.pop(0)
    torch.manual_seed(0)  # the factory's weight initialisation
    model = net.make()
    x = torch.randint(0, 256, (8, 1, 6, 6), generator=torch.Generator().manual_seed(1))
    model(x.float())  # learned scales initialise on use
    torch.save(model.eval().state_dict(), tmp_path / "w.pt")
    p = _cli(
        "export",
        f"{tmp_path / 'net.py'}:make",
        "--weights",
        str(tmp_path / "w.pt"),
        "--input-shape",
        "1,1,6,6",
        "--out",
        str(tmp_path / "e"),
    )
    assert p.returncode == 0, p.stderr
    info = json.loads((tmp_path / "e" / "export.json").read_text())
    assert info["input"]["shape"] == [1, 1, 6, 6] and info["output"]["shape"] == [1, 4]
    assert info["verification"][0]["bit_exact"] == 100
    assert "random UINT8" in info["check_inputs"]


def test_refuses_non_deployable_scheme(tmp_path):
    from fewerbits.train.schemes import NOT_DEPLOYABLE_HINT
    from fewerbits.train.trainer import train

    from fewerbits.core.config import TrainConfig

    train(TrainConfig(scheme="float", epochs=1, max_steps=1), tmp_path / "t", progress=False)
    p = _cli("export", str(tmp_path / "t"), "--out", str(tmp_path / "e"))
    assert p.returncode == 1
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "not deployable" in err[0] and NOT_DEPLOYABLE_HINT in err[0]
    assert not (tmp_path / "e").exists(), "a refused export leaves no output folder"


def test_refuses_unsupported_layer_naming_it(tmp_path):
    (tmp_path / "bad.py").write_text(
        "import torch.nn as nn, brevitas.nn as qnn\n"
        "from fewerbits.train.schemes import InputQuant, IntWeightQuant\n\n"
        "def make():\n"
        "    return nn.Sequential(qnn.QuantIdentity(act_quant=InputQuant), nn.Flatten(),\n"
        "        qnn.QuantLinear(16, 8, bias=False, weight_quant=IntWeightQuant,\n"
        "                        weight_bit_width=2), nn.Sigmoid(),\n"
        "        qnn.QuantLinear(8, 2, bias=False, weight_quant=IntWeightQuant))\n"
    )
    p = _cli(
        "export",
        f"{tmp_path / 'bad.py'}:make",
        "--input-shape",
        "1,4,4",
        "--out",
        str(tmp_path / "e"),
    )
    assert p.returncode == 1
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "layer 3 (Sigmoid)" in err[0], p.stderr
    assert not (tmp_path / "e").exists(), "a refused export leaves no output folder"


def test_bad_weights_one_line(tmp_path):
    (tmp_path / "n.py").write_text(
        "from fewerbits.train.schemes import make_scheme\n"
        "from fewerbits.train.models import MLP\n\n"
        "def make():\n    return MLP(make_scheme('int', 2, 2), 16, (4,), 2)\n"
    )
    torch.save({"nope": torch.zeros(1)}, tmp_path / "w.pt")
    p = _cli(
        "export",
        f"{tmp_path / 'n.py'}:make",
        "--weights",
        str(tmp_path / "w.pt"),
        "--input-shape",
        "1,4,4",
        "--out",
        str(tmp_path / "e"),
    )
    assert p.returncode == 1
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "w.pt" in err[0] and "state_dict" in err[0], p.stderr
    assert not (tmp_path / "e").exists(), "a refused export leaves no output folder"


def test_factory_needs_input_shape(tmp_path):
    (tmp_path / "f.py").write_text("def make():\n    raise SystemExit(3)\n")
    p = _cli("export", f"{tmp_path / 'f.py'}:make", "--out", str(tmp_path / "e"))
    assert p.returncode == 2 and "--input-shape is required" in p.stderr
    assert not (tmp_path / "e").exists(), "a refused export leaves no output folder"


def _tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_graph_refusal_leaves_no_partial_and_never_clobbers(tmp_path):
    """A model that passes the layer check but whose graph still has float weights (a custom
    module calling F.linear) is refused after the ONNX export: no half-written folder, and an
    earlier export in the same --out is left as it was."""
    (tmp_path / "f.py").write_text(
        "import torch, torch.nn as nn, torch.nn.functional as F, brevitas.nn as qnn\n"
        "from fewerbits.train.schemes import InputQuant, make_scheme\n"
        "from fewerbits.train.models import MLP\n\n"
        "class FloatLinear(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.w = nn.Parameter(torch.ones(2, 16))\n"
        "    def forward(self, x):\n"
        "        return F.linear(x, self.w)\n\n"
        "def bad():\n"
        "    return nn.Sequential(qnn.QuantIdentity(act_quant=InputQuant), nn.Flatten(),\n"
        "                         FloatLinear())\n\n"
        "def good():\n"
        "    torch.manual_seed(0)\n"
        "    return MLP(make_scheme('int', 2, 2), 16, (4,), 2)\n"
    )
    shape = ("--input-shape", "1,4,4")
    p = _cli("export", f"{tmp_path / 'f.py'}:bad", *shape, "--out", str(tmp_path / "new"))
    assert p.returncode == 1
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "float weights" in err[0], p.stderr
    assert not (tmp_path / "new").exists(), "a refused export leaves no output folder"
    p = _cli("export", f"{tmp_path / 'f.py'}:good", *shape, "--out", str(tmp_path / "e"))
    assert p.returncode == 0, p.stderr
    before = _tree(tmp_path / "e")
    assert {"model.onnx", "export.json"} <= set(before)
    p = _cli("export", f"{tmp_path / 'f.py'}:bad", *shape, "--out", str(tmp_path / "e"))
    assert p.returncode == 1 and "made with other options" in p.stderr, p.stderr
    assert _tree(tmp_path / "e") == before, "a refused export clobbered the earlier one"
    # --force lets the export replace it, but only when it is complete: refused, nothing changes
    p = _cli("export", f"{tmp_path / 'f.py'}:bad", *shape, "--out", str(tmp_path / "e"), "--force")
    assert p.returncode == 1 and "float weights" in p.stderr, p.stderr
    assert _tree(tmp_path / "e") == before, "a refused export clobbered the earlier one"
    assert [q.name for q in tmp_path.iterdir() if q.name.startswith(".")] == []
