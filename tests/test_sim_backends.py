"""The simulator seam (fewerbits.hw.sim): the registry, the CLI's use of it, and a second, real
back end -- Verilator with the model's C++ unoptimised, so other flags and another cache key --
registered here and picked up by Stitched, StitchedSimulator, simulate_node and the driver's
rtlsim back end without any change to them, with bit-exact identical outputs and cycles."""

from __future__ import annotations

import numpy as np
import pytest
import rtlsim_graphs as rg
from fewerbits.hw.driver import Accelerator, DriverError
from fewerbits.hw.driver.finn_nodes import FPGADATAFLOW_DOMAIN, base_op_type
from fewerbits.hw.sim import (
    DEFAULT_SIMULATOR,
    SimBackend,
    UnknownSimulatorError,
    VerilatorBackend,
    backend_names,
    get_backend,
    register_backend,
    unregister_backend,
)
from rtlsim_graphs import rtlsim_cache  # noqa: F401 - session fixture
from test_cli_errors import error_lines, fewerbits

from fewerbits.core.errors import FewerbitsError

FRAMES = 24


class VerilatorUnoptimised(VerilatorBackend):
    """Verilator with the model's C++ at -O0: a different binary of the same simulation."""

    name = "verilator-O0"
    opt = "-O0"


@pytest.fixture
def second_backend():
    register_backend(VerilatorUnoptimised)
    yield VerilatorUnoptimised.name
    unregister_backend(VerilatorUnoptimised.name)


def test_unknown_simulator_is_one_line_naming_the_known():
    with pytest.raises(UnknownSimulatorError) as e:
        get_backend("icarus")
    msg = str(e.value)
    assert isinstance(e.value, FewerbitsError) and "\n" not in msg
    assert "'icarus'" in msg and "verilator" in msg


def test_registry_lists_verilator_first():
    assert DEFAULT_SIMULATOR == "verilator" and backend_names()[0] == "verilator"
    b = get_backend()
    assert isinstance(b, SimBackend) and b.name == "verilator" and b.available() is None


def test_register_refuses_what_is_no_backend_and_name_clashes(second_backend):
    class NoRun:
        name = "no-run"

        def available(self):
            return None

        def compile(self, design):
            raise AssertionError

    with pytest.raises(TypeError, match="missing run"):
        register_backend(NoRun)
    assert second_backend in backend_names() and "no-run" not in backend_names()
    clash = type("OtherO0", (VerilatorBackend,), {"name": second_backend})
    with pytest.raises(ValueError, match="already registered"):
        register_backend(clash)


@pytest.mark.parametrize("cmd", ["infer", "validate"])
def test_cli_refuses_unknown_simulator_in_one_line(cmd, tmp_path):
    args = ["--input", "x.npy", "--out", "y.npy"] if cmd == "infer" else ["--dataset", "mnist-5k"]
    r = fewerbits(cmd, str(tmp_path / "deploy"), *args, "--simulator", "icarus", cwd=tmp_path)
    lines = error_lines(r.stderr)
    assert r.returncode == 2 and len(lines) == 1, r.stderr  # a bad option value
    assert "'icarus'" in lines[0] and "verilator" in lines[0]
    helped = fewerbits(cmd, "--help")
    assert (
        "--simulator {verilator" in helped.stdout and "{pynq,python,rtlsim,serial}" in helped.stdout
    )


def test_base_op_type():
    hls = "finn.custom_op.fpgadataflow.hls"
    assert base_op_type("MVAU_hls", hls) == ("MVAU", FPGADATAFLOW_DOMAIN)
    assert base_op_type("StreamingFIFO_rtl", hls[:-3] + "rtl") == (
        "StreamingFIFO",
        FPGADATAFLOW_DOMAIN,
    )
    assert base_op_type("MVAU", FPGADATAFLOW_DOMAIN) == ("MVAU", FPGADATAFLOW_DOMAIN)
    assert base_op_type("Mul_rtl", "") == ("Mul_rtl", "")


@pytest.mark.usefixtures("rtlsim_cache")
def test_second_backend_node_bit_exact(second_backend, tmp_path):
    from fewerbits.hw.rtlsim.sim import simulate_node

    model, part, desc = rg.thresholding(np.random.default_rng(3), signed=True)
    model = rg.codegen(model, part, tmp_path / "finn")
    node = model.graph.node[0]
    ref = simulate_node(model, node, tmp_path / "ref", frames=4, stall=(20, 20))
    res = simulate_node(
        model, node, tmp_path / "o0", frames=4, stall=(20, 20), simulator=second_backend
    )
    assert ref.status == res.status == "pass", (desc, ref.reason, res.reason)
    assert np.array_equal(res.outputs_array, ref.outputs_array)
    assert res.cycles_per_frame == ref.cycles_per_frame


@pytest.fixture(scope="module")
def images():
    from fewerbits.train.datasets import load_dataset

    return load_dataset("mnist-5k").x_test[:FRAMES].astype(np.float32)


@pytest.mark.usefixtures("rtlsim_cache")
def test_second_backend_stitched_bit_exact(second_backend, demo_run, images):
    from fewerbits.hw.rtlsim.api import StitchedSimulator
    from fewerbits.hw.rtlsim.sim import Stitched

    build = demo_run / "build"
    ref, alt = Stitched(build), Stitched(build, simulator=second_backend)
    y_ref, y_alt = ref.run(images), alt.run(images)
    assert alt.binary.backend == second_backend and ref.binary.backend == "verilator"
    assert alt.binary.key != ref.binary.key  # other flags: another model in the cache
    assert np.array_equal(y_alt.view(np.int32), y_ref.view(np.int32))
    assert np.array_equal(alt.last.last_out, ref.last.last_out)
    assert alt.timing()["cycles_per_frame"] == ref.timing()["cycles_per_frame"]

    sim = StitchedSimulator(build, simulator=second_backend)
    assert sim.binary.cache_hit and sim.binary.key == alt.binary.key
    rng = np.random.default_rng(0)
    packed = rng.integers(0, 256, size=(5, sim.in_words, sim.in_bytes_per_word), dtype=np.uint8)
    assert np.array_equal(sim.run_packed(packed), StitchedSimulator(build).run_packed(packed))


@pytest.mark.usefixtures("rtlsim_cache")
def test_second_backend_through_the_driver(second_backend, demo_run, images):
    deploy = demo_run / "build" / "deploy"
    with Accelerator(deploy, backend="rtlsim", simulator=second_backend) as acc:
        assert acc.backend.sim.binary.backend == second_backend
        y_alt = acc.execute(images[:7])
    with Accelerator(deploy, backend="rtlsim") as acc:
        assert acc.backend.sim.binary.backend == "verilator"
        y_ref = acc.execute(images[:7])
    assert np.array_equal(y_alt.view(np.int32), y_ref.view(np.int32))
    with pytest.raises(DriverError, match="simulator 'icarus' unknown") as e:
        Accelerator(deploy, backend="rtlsim", simulator="icarus")
    assert "\n" not in str(e.value) and second_backend in str(e.value)
