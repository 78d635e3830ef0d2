"""Shared fixtures: one small trained demo run per test session (real MNIST-5k, real FINN), and
a hermetic environment for the whole session (no state shared with other runs or the user)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the synthesis/board session fixtures (tiny net run, its ULX3S build, codegen'd nodes): one
#: instance per session; a test module that imported them would get its own copy (rebuilt)
pytest_plugins = ["synth_fixtures"]
FEWERBITS = [sys.executable, "-m", "fewerbits.cli"]

#: variables of a Xilinx/FINN install that change what FINN and fewerbits do (a set
#: XILINX_VIVADO turns the Vivado steps on); none of them may leak into a test run
FOREIGN_PREFIXES = ("XILINX_", "XILINXD_", "FINN_")


@pytest.fixture(scope="session", autouse=True)
def hermetic_env(tmp_path_factory) -> dict[str, str]:
    """For the whole session (and every subprocess a test starts, which inherits os.environ):
    every FINN_* / XILINX_* variable removed; the Verilator model cache (FEWERBITS_CACHE), the
    dataset download cache (FEWERBITS_DATA; mnist-5k, digits and fashion-mnist load offline from
    wheels and Debian packages, never from it) and FINN's settings file and build folder
    (FINN_SETTINGS, FINN_BUILD_DIR) in a folder of this run. The Verilator cache is shared by
    all tests of one run (a stitched model compiled once per run), never between runs."""
    from fewerbits.compat.finn.env import write_settings
    from fewerbits.core.cache import WASM_CACHE_VAR, wasm_cache

    base = tmp_path_factory.mktemp("hermetic")
    finn_work = base / "finn"
    env = {
        "FEWERBITS_CACHE": str(base / "cache"),
        "FEWERBITS_DATA": str(base / "data"),
        # the two paths write_settings writes and sets (recorded here so teardown unsets them)
        "FINN_SETTINGS": str(finn_work / "finn_settings.yaml"),
        "FINN_BUILD_DIR": str(finn_work / "finn_tmp"),
        # the yowasp tools' compiled WebAssembly (~1 min per tool to make): content-addressed by
        # the pinned wheel's module digest, so sharing it between runs shares no state
        WASM_CACHE_VAR: str(wasm_cache()),
    }
    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith(FOREIGN_PREFIXES)]:
            if var.startswith(("XILINX_", "XILINXD_")):
                CALLER_XILINX[var] = os.environ[var]
            mp.delenv(var)
        for var, value in env.items():
            mp.setenv(var, value)
        assert str(write_settings(finn_work)) == env["FINN_SETTINGS"]
        assert os.environ["FINN_BUILD_DIR"] == env["FINN_BUILD_DIR"]
        yield env


@pytest.fixture(autouse=True)
def finn_settings_per_test(hermetic_env, monkeypatch):
    """prepare_finn() points the whole process (FINN_SETTINGS, FINN_BUILD_DIR, FINN's cached
    settings) at the folder of the test that called it; without this the next tests ran FINN
    in that earlier test's tmp folder. Each test starts from the session's FINN folders."""
    for var in ("FINN_SETTINGS", "FINN_BUILD_DIR"):
        monkeypatch.setenv(var, hermetic_env[var])
    yield
    env = sys.modules.get("fewerbits.compat.finn.env")
    if env is not None:
        env._prepared_for = None  # the next prepare_finn() call sets the variables again
        if "finn.util.settings" in sys.modules:
            env.reset_settings_cache()


def pytest_collection_modifyitems(items):
    """A test that needs the demo run (~45 s of training, FINN build and Verilator on 2 cores,
    once per session) is slow when run on its own."""
    for item in items:
        if "demo_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


#: the caller's Xilinx variables, removed for the session; only tests marked `vivado` get them
CALLER_XILINX: dict[str, str] = {}

VIVADO_ABSENT = (
    "needs Vivado/Vitis HLS: XILINX_VIVADO (with bin/vivado) and XILINX_HLS or vitis_hls on PATH "
    "not found in the environment pytest was started from"
)


@pytest.fixture(autouse=True)
def vivado_marker(request, hermetic_env, monkeypatch):
    """A test marked `vivado` runs with the caller's XILINX_* variables, or is skipped with the
    reason when Vivado/Vitis HLS are absent; every other test runs without them."""
    if request.node.get_closest_marker("vivado") is None:
        return
    from fewerbits.compat.finn.env import vitis_hls_available, vivado_available

    for var, value in CALLER_XILINX.items():
        monkeypatch.setenv(var, value)
    if not (vivado_available() and vitis_hls_available()):
        pytest.skip(VIVADO_ABSENT)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """`fewerbits run` with a tiny budget (2 epochs, 200 verified images), shared by tests."""
    from fewerbits.core.config import RunConfig, TrainConfig
    from fewerbits.pipeline import run

    out = tmp_path_factory.mktemp("demo") / "run"
    cfg = RunConfig(train=TrainConfig(epochs=2), verify_samples=200)
    run(cfg, out, progress=False)
    return out


@pytest.fixture
def clean_env(monkeypatch):
    """An environment without FINN/Vivado variables (as on a fresh machine)."""
    for var in ("FINN_SETTINGS", "FINN_BUILD_DIR", "XILINX_VIVADO", "XILINX_HLS"):
        monkeypatch.delenv(var, raising=False)
    return os.environ


def finn_report(build_dir: Path, name: str) -> dict:
    """FINN's own ``report/<name>.json`` of a build folder (e.g. estimate_network_performance):
    an independent reference for the numbers fewerbits derives from it."""
    import json

    return json.loads((Path(build_dir) / "report" / f"{name}.json").read_text())
