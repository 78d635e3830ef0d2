"""Shared fixtures: one small trained demo run per test session (real MNIST-5k, real FINN)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FEWERBITS = [sys.executable, "-m", "fewerbits.cli"]


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
