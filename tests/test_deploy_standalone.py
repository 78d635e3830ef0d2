"""The deployment package works without fewerbits: a fresh venv with only numpy (no
--system-site-packages) imports deploy/driver, defers pynq, and runs the real pynq back end
against the PYNQ stand-in replaying buffers recorded from the python back end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fewerbits.hw.driver import Accelerator
from test_driver import FAKE_PYNQ, demo, with_bitfile  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, os, sys
import numpy as np
deploy, fake, rec = sys.argv[1:4]
sys.path.insert(0, deploy)
import driver
from driver import Accelerator, DriverError
loaded = sorted(m.split(".")[0] for m in sys.modules)
res = {"deferred": not any(m in loaded for m in ("pynq", "finn", "qonnx", "fewerbits", "torch"))}
try:
    import fewerbits  # noqa: F401
    res["fewerbits_importable"] = True
except ImportError:
    res["fewerbits_importable"] = False
for backend in ("pynq", "python"):
    try:
        Accelerator(deploy, backend=backend)
        res[backend + "_error"] = None
    except DriverError as e:
        res[backend + "_error"] = str(e)
sys.path.insert(0, fake)
os.environ["FAKE_PYNQ_HW"] = "recorded:" + rec
d = np.load(rec)
with Accelerator(deploy, backend="pynq") as acc:
    y = acc.execute(d["x"])
res["exact_rows"] = int(np.all(y.view(np.int32) == d["ref"].view(np.int32), axis=1).sum())
res["rows"] = int(len(y))
res["numpy"] = np.__version__
print(json.dumps(res))
"""


def lock_version(pkg: str) -> str:
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.lower().startswith(pkg + "=="):
            return line.split("==")[1].strip()
    raise AssertionError(f"{pkg} not in requirements.lock")


@pytest.fixture(scope="module")
def numpy_venv(tmp_path_factory) -> Path:
    """A plain venv with only numpy (the lock's version), from pip's cache or PyPI."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    r = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         f"numpy=={lock_version('numpy')}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if r.returncode != 0:
        pytest.skip(
            f"cannot install numpy into a fresh venv (no PyPI/pip cache?): {r.stderr[-300:]}"
        )
    return py


def test_deploy_package_runs_without_fewerbits(demo, numpy_venv, tmp_path):  # noqa: F811
    deploy, x, ref = demo
    d = with_bitfile(deploy, tmp_path / "deploy")
    # record the hardware side once, with the python back end (FINN) in this process
    acc = Accelerator(d, backend="python")
    packed_in = acc.pack_input(acc.check_input(x[:7]))
    packed_out = acc.backend.run(packed_in)
    np.savez(tmp_path / "rec.npz", packed_in=packed_in, packed_out=packed_out, x=x[:7], ref=ref[:7])
    fake = tmp_path / "fake"
    shutil.copytree(FAKE_PYNQ, fake)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    r = subprocess.run(
        [str(numpy_venv), "-c", SCRIPT, str(d), str(fake), str(tmp_path / "rec.npz")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["numpy"] == lock_version("numpy")
    assert res["fewerbits_importable"] is False
    assert res["deferred"] is True
    assert "backend 'pynq' needs the pynq package" in res["pynq_error"]
    assert "needs finn-plus and qonnx" in res["python_error"]
    assert res["exact_rows"] == res["rows"] == 7

    # the board's validate.py, same venv, same stand-in
    labels = ref[:7].argmax(1)
    np.savez(tmp_path / "val.npz", x=x[:7], y=labels)
    env.update(PYTHONPATH=str(fake), FAKE_PYNQ_HW=f"recorded:{tmp_path / 'rec.npz'}")
    r = subprocess.run(
        [str(numpy_venv), str(d / "validate.py"), "--dataset", str(tmp_path / "val.npz"),
         "--backend", "pynq", "--batch-size", "7"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["accuracy"] == 1.0 and out["samples"] == 7 and out["backend"] == "pynq"
