"""The session environment of conftest.hermetic_env: no Xilinx/FINN variable of the caller, and
every cache fewerbits or FINN writes lies in this run's temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FOREIGN_PREFIXES


def test_caches_and_finn_folders_are_in_this_run(hermetic_env, tmp_path_factory):
    from fewerbits.hw.rtlsim.verilator import cache_root
    from fewerbits.train.datasets import cache_dir

    base = tmp_path_factory.getbasetemp()
    assert cache_root().is_relative_to(base) and cache_dir().is_relative_to(base)
    for var in ("FINN_SETTINGS", "FINN_BUILD_DIR"):
        assert Path(os.environ[var]).is_relative_to(base), var
    assert Path(os.environ["FINN_SETTINGS"]).is_file()
    foreign = {v for v in os.environ if v.startswith(FOREIGN_PREFIXES)}
    # only the two FINN variables of this run, and the library paths prepare_finn may add
    assert foreign <= {"FINN_SETTINGS", "FINN_BUILD_DIR", "FINN_RTLLIB", "FINN_CUSTOM_HLS"}
    assert not any(v.startswith(("XILINX_", "XILINXD_")) for v in os.environ)


def test_subprocesses_inherit_the_hermetic_environment(hermetic_env):
    names = sorted(hermetic_env)
    code = f"import os, json; print(json.dumps({{k: os.environ.get(k) for k in {names!r}}}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == hermetic_env


@pytest.mark.vivado
def test_vivado_marker_gives_back_the_callers_xilinx_environment():
    """Runs only where Vivado is installed: the `vivado` marker restores XILINX_VIVADO."""
    from fewerbits.compat.finn.env import vivado_available

    assert vivado_available() and os.environ["XILINX_VIVADO"]
