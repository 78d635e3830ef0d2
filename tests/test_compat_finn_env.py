"""Each finn-plus 1.6.1 workaround in fewerbits/compat/finn/env.py: the upstream bug is still
there (so the test fails once upstream fixes it and the workaround can go), and the workaround
removes it. Each case runs in a fresh interpreter without Vivado, like a user's first call."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def run_py(code: str, home: Path, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINN_", "XILINX_"))}
    env["HOME"] = str(home)
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_finn_builder_import_needs_xsi_prebind(tmp_path):
    bug = run_py(
        "import finn.builder.build_dataflow_steps", tmp_path, {"FINN_BUILD_DIR": str(tmp_path)}
    )
    assert bug.returncode != 0 and "XILINX_VIVADO" in bug.stderr, "upstream fixed? drop prebind_xsi"
    fixed = run_py(
        f"""
        from fewerbits.compat.finn.env import prepare_finn, VivadoRequiredError
        prepare_finn({str(tmp_path / "w")!r})
        import finn.builder.build_dataflow_steps
        import finn.xsi
        try:
            finn.xsi.SimEngine()
        except VivadoRequiredError as e:
            print("VIVADO-ONLY:", e)
        """,
        tmp_path,
    )
    assert fixed.returncode == 0, fixed.stderr
    assert "VIVADO-ONLY: finn.xsi.SimEngine" in fixed.stdout and "Docker" in fixed.stdout


def test_settings_kept_out_of_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    bug = run_py("from finn.util.settings import get_settings; get_settings()", home)
    assert bug.returncode != 0 and "Could not find global settings" in bug.stderr, (
        "upstream fixed? drop write_settings"
    )
    work = tmp_path / "run"
    fixed = run_py(
        f"""
        from fewerbits.compat.finn.env import prepare_finn
        prepare_finn({str(work)!r})
        from finn.util.settings import get_settings
        from finn.util.basic import make_build_dir
        print(get_settings().finn_build_dir)
        print(make_build_dir("probe_"))
        """,
        home,
    )
    assert fixed.returncode == 0, fixed.stderr
    build_dir, probe = fixed.stdout.split()[-2:]
    assert Path(build_dir) == work / "finn_tmp" and Path(probe).parent == work / "finn_tmp"
    assert not (home / ".finn").exists(), "FINN wrote into $HOME"


def test_library_paths_for_generated_tcl(tmp_path):
    """FINN's generated HLS synthesis TCL reads $::env(FINN_CUSTOM_HLS) (and stitching TCL
    $::env(FINN_RTLLIB)), which only FINN's CLI sets; the Python API leaves them unset."""
    from finn.custom_op.fpgadataflow import templates

    assert "$::env(FINN_CUSTOM_HLS)" in templates.ipgentcl_template, (
        "upstream stopped using the env var?"
    )
    code = """
        import os
        from fewerbits.compat.finn.env import prepare_finn
        prepare_finn({w!r})
        print(os.environ.get("FINN_CUSTOM_HLS", ""), os.environ.get("FINN_RTLLIB", ""))
        """
    bug = run_py(
        "import os, finn.builder.build_dataflow_config; print(os.environ.get('FINN_CUSTOM_HLS'))",
        tmp_path,
    )
    assert bug.stdout.strip() == "None", (
        "upstream sets FINN_CUSTOM_HLS itself now? drop set_library_paths"
    )
    fixed = run_py(code.format(w=str(tmp_path / "w")), tmp_path)
    custom_hls, rtllib = (Path(p) for p in fixed.stdout.split())
    assert (custom_hls / "mvau.hpp").is_file() or any(custom_hls.glob("*.hpp")), custom_hls
    assert (rtllib / "thresholding" / "hdl").is_dir(), rtllib


def test_hw_reshape_registered(tmp_path):
    code = """
        from onnx import helper
        from qonnx.custom_op.registry import getCustomOp
        {prep}
        node = helper.make_node("Reshape", ["a", "s"], ["b"], domain="finn.custom_op.fpgadataflow")
        print(type(getCustomOp(node)).__name__)
        """
    bug = run_py(code.format(prep="import finn.custom_op.fpgadataflow"), tmp_path)
    assert bug.returncode != 0 and "Op 'Reshape' not found" in bug.stderr, (
        "upstream fixed? drop register_hw_ops"
    )
    prep = (
        f"from fewerbits.compat.finn.env import prepare_finn; prepare_finn({str(tmp_path / 'w')!r})"
    )
    fixed = run_py(code.format(prep=prep), tmp_path)
    assert fixed.returncode == 0 and fixed.stdout.strip() == "Reshape", fixed.stderr
