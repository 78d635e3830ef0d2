"""--extra-steps file.py:name: a user's own build steps run at the place they name, are saved
like every step, and a malformed list is refused in one line before any work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fewerbits.hw.build import build
from fewerbits.hw.build import steps as S

from fewerbits.core.artifacts import BuildDir
from fewerbits.core.config import BuildConfig

CLI = [sys.executable, "-m", "fewerbits.cli"]

USER_STEPS = '''from pathlib import Path


def step_count_nodes(model, cfg):
    """A user step: records how many nodes the streamlined graph has, changes nothing."""
    Path(cfg.output_dir, "user_step.txt").write_text(str(len(model.graph.node)))
    return model


steps = [("after", "step_streamline", step_count_nodes)]
bad_position = [("around", "step_streamline", step_count_nodes)]
bad_anchor = [("after", "step_no_such_step", step_count_nodes)]
not_a_list = 42
'''


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory) -> Path:
    from fewerbits.export.exporter import export

    d = tmp_path_factory.mktemp("extra")
    (d / "net.py").write_text(
        "import brevitas.nn as qnn, torch, torch.nn as nn\n"
        "from brevitas.quant import Int8WeightPerTensorFixedPoint as WQ\n"
        "from brevitas.quant import Uint8ActPerTensorFixedPoint as AQ\n"
        "def make():\n"
        "    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Flatten(), qnn.QuantIdentity(act_quant=AQ),\n"
        "        qnn.QuantLinear(16, 8, bias=False, weight_quant=WQ, weight_bit_width=2),\n"
        "        qnn.QuantReLU(act_quant=AQ, bit_width=2),\n"
        "        qnn.QuantLinear(8, 4, bias=False, weight_quant=WQ, weight_bit_width=2))\n"
    )
    (d / "my_steps.py").write_text(USER_STEPS)
    export({"factory": f"{d / 'net.py'}:make"}, d / "export", (1, 4, 4))
    return d


def test_user_step_runs_after_its_anchor(tiny_export: Path):
    d = tiny_export
    cfg = BuildConfig(until="estimates", extra_steps=f"{d / 'my_steps.py'}:steps")
    res = build(d / "export" / "model.onnx", d / "build", cfg, progress=False)
    ran = res.steps.ran
    assert ran[ran.index(S.STREAMLINE) + 1] == "step_count_nodes"
    out = BuildDir(d / "build")
    assert int((out.path / "user_step.txt").read_text()) > 0
    assert out.model_after("step_count_nodes").is_file()
    assert "step_count_nodes" in json.loads(out.config.read_text())["steps"]


@pytest.mark.parametrize(
    "name,wording",
    [
        ("bad_position", "position 'around': use before/after"),
        ("bad_anchor", "no step 'step_no_such_step' in the plan"),
        ("not_a_list", "expected a list of"),
        ("missing", "defines no 'missing'"),
    ],
)
def test_bad_extra_steps_refused_in_one_line(tiny_export: Path, tmp_path, name, wording):
    out = tmp_path / "b"
    p = subprocess.run(
        [*CLI, "build", str(tiny_export / "export"), "--until", "estimates", "-q"]
        + ["--extra-steps", f"{tiny_export / 'my_steps.py'}:{name}", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and wording in lines[0] and "--extra-steps" in lines[0], p.stderr
    assert not out.exists() and not list(tmp_path.glob(".b.*"))
