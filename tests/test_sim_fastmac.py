"""The ``verilator-fastmac`` back end (a cheaper behavioural model of FINN's MVU MAC array,
hw/sim/verilator/mvu_fast.sv) gives what FINN's own model (finn-rtllib mvu.sv) gives: the same
output words and the same handshake cycle of every frame, on the stitched demo accelerator with
random stalls (unsigned activations, DSP48E1) and on a single MVAU_rtl layer of random shape and
widths with signed activations (DSP48E2), each also bit-exact against FINN's Python execution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rtlsim_graphs as rg
from rtlsim_graphs import rtlsim_cache  # noqa: F401 - session fixture

SEED = 16


def test_fastmac_replaces_only_finns_mvu():
    from fewerbits.hw.sim import Design, get_backend
    from fewerbits.hw.sim.verilator.fastmac import MODEL, with_fast_mac

    d = Design("x", {"mvu.sv": "module mvu; endmodule", "fifo.sv": "module fifo; endmodule"})
    fast = with_fast_mac(d)
    assert fast.sources["mvu.sv"] == MODEL.read_text() and "module mvu #(" in MODEL.read_text()
    assert fast.sources["fifo.sv"] == d.sources["fifo.sv"] and d.sources["mvu.sv"] != MODEL
    assert with_fast_mac(Design("y", {"fifo.sv": "module fifo; endmodule"})).sources == {
        "fifo.sv": "module fifo; endmodule"
    }
    # different sources, different compiled model: the cache cannot mix the two
    b = get_backend("verilator-fastmac")
    assert b.cache_key(fast) != b.cache_key(d)


@pytest.mark.usefixtures("rtlsim_cache")
def test_stitched_demo_same_words_and_cycles(demo_run: Path):
    from fewerbits.hw.rtlsim.sim import Stitched, random_input

    finn = Stitched(demo_run / "build")
    fast = Stitched(demo_run / "build", simulator="verilator-fastmac")
    rng = np.random.default_rng(SEED)
    x = random_input(finn.geo.idt, (12, *finn.geo.in_normal[1:]), rng)
    words = finn.geo.pack_in(x)
    for stall in [(0, 0), (35, 45)]:
        a = finn.run_words(words, len(x), stall, seed=3)
        b = fast.run_words(words, len(x), stall, seed=3)
        assert b.out.shape == a.out.shape and np.array_equal(b.out, a.out), stall
        assert np.array_equal(b.first_in, a.first_in) and np.array_equal(b.last_out, a.last_out)
        assert b.cycles == a.cycles, stall
    # and the words are the right ones: FINN's Python execution of the dataflow graph
    got = fast.run_dataflow(x)
    assert got.shape[0] == len(x) and np.array_equal(got, finn.run_dataflow(x))


@pytest.mark.usefixtures("rtlsim_cache")
def test_mvau_layer_same_as_finn_model(tmp_path):
    """Signed activations on DSP48E2 (the demo above: unsigned ones on DSP48E1)."""
    from fewerbits.hw.rtlsim.sim import simulate_node

    rng = np.random.default_rng([SEED, 1])
    model, part, desc = rg.mvau(rng, signed_act=True, narrow_part=False)
    model = rg.codegen(model, part, tmp_path / "finn")
    node = model.graph.node[0]
    assert node.op_type == "MVAU_rtl", f"FINN chose {node.op_type} for {desc}"
    stall = (int(rng.integers(10, 50)), int(rng.integers(10, 50)))
    res = {}
    for sim in ("verilator", "verilator-fastmac"):
        res[sim] = simulate_node(
            model, node, tmp_path / sim, frames=6, stall=stall, seed=SEED, simulator=sim
        )
        assert res[sim].status == "pass", f"{sim} ({desc}): {res[sim].reason}"
    a, b = res["verilator"], res["verilator-fastmac"]
    assert np.array_equal(a.outputs_array, b.outputs_array), desc
    assert a.cycles_per_frame == b.cycles_per_frame, desc


@pytest.mark.usefixtures("rtlsim_cache")
def test_verify_runs_the_rtl_level_on_the_simulator_named(demo_run: Path, tmp_path):
    """`fewerbits verify --simulator verilator-fastmac`: rtl_stitched runs on that back end
    (recorded in the result) and is bit-exact; an unknown name is refused in one line."""
    import subprocess
    import sys

    from fewerbits.verify import level_names, verify_directory

    skip = tuple(n for n in level_names() if n != "rtl_stitched")
    res = verify_directory(
        demo_run / "build",
        samples=8,
        progress=False,
        skip=skip,
        out_file=tmp_path / "v.json",
        simulator="verilator-fastmac",
    )
    lv = {r["name"]: r for r in res["levels"]}["rtl_stitched"]
    assert lv["status"] == "pass" and lv["bit_exact"] == 8, lv
    assert res["rtl"]["rtl_stitched"]["simulator"] == "verilator-fastmac", res["rtl"]
    assert lv["integers"]["summary"].startswith("not observable at this level"), lv
    p = subprocess.run(
        [sys.executable, "-m", "fewerbits.cli", "verify", str(demo_run), "--simulator", "nope"],
        capture_output=True,
        text=True,
    )
    err = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(err) == 1 and "nope" in err[0], p.stderr
    assert "verilator-fastmac" in err[0], err
