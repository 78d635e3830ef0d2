"""The driver on the demo deployment package: bit-exact vs PyTorch through the python back end
and through the pynq back end on the PYNQ stand-in; input checks; settings checks; CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fewerbits.hw.driver import (
    Accelerator,
    DriverError,
    backend_unavailable,
    load_settings,
    rtlsim_unavailable,
)
from fewerbits.hw.driver.settings import sha256

ROOT = Path(__file__).resolve().parents[1]
FAKE_PYNQ = Path(__file__).parent / "fake_pynq"


@pytest.fixture(scope="module")
def demo(demo_run):
    """(deploy dir, 64 test images, PyTorch outputs, labels)."""
    from fewerbits.train.datasets import load_dataset
    from fewerbits.train.trainer import load_checkpoint

    from fewerbits.verify import pytorch_reference

    model, _ = load_checkpoint(demo_run / "train")
    data = load_dataset("mnist-5k")
    x = data.x_test[:64]
    return demo_run / "build" / "deploy", x, pytorch_reference(model, x.astype(np.float32))


@pytest.fixture(scope="module")
def python_acc(demo):
    return Accelerator(demo[0], backend="python")


def exact_rows(a: np.ndarray, b: np.ndarray) -> int:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    assert a.shape == b.shape
    return int(np.all(a.view(np.int32) == b.view(np.int32), axis=1).sum())


def with_bitfile(src: Path, dst: Path) -> Path:
    """A copy of the package with a (fake) bitfile registered in settings.json."""
    shutil.copytree(src, dst)
    (dst / "bitfile").mkdir()
    bit = dst / "bitfile" / "finn-accel.bit"
    bit.write_bytes(b"not a real bitstream: tests run the PYNQ stand-in")
    s = json.loads((dst / "settings.json").read_text())
    s["files"]["bitfile"] = {"path": "bitfile/finn-accel.bit", "sha256": sha256(bit)}
    (dst / "settings.json").write_text(json.dumps(s))
    return dst


def test_package_contents(demo):
    deploy = demo[0]
    for f in (
        "driver/__init__.py",
        "driver/packing.py",
        "settings.json",
        "validate.py",
        "README.md",
    ):
        assert (deploy / f).is_file(), f
    s = load_settings(deploy)
    assert s.inp.dma == "idma0" and s.out.dma == "odma0"
    assert s.inp.dt.name == "UINT8" and s.model_in[0] == (1, 1, 28, 28)
    assert s.inp.packed[-1] * 8 == s.inp.stream_width_bits
    # NCHW -> NHWC, then the first MVAU's flat normal shape (the input threshold layer is removed)
    assert [op["op"] for op in s.pre] == ["transpose", "reshape"]
    assert s.fclk_mhz == pytest.approx(100.0) and s.max_batch >= 64
    assert "python3 validate.py" in (deploy / "README.md").read_text()
    # the driver package never imports fewerbits at module level
    for py in (deploy / "driver").glob("*.py"):
        top = [ln for ln in py.read_text().splitlines() if ln.startswith(("import ", "from "))]
        assert not any("fewerbits" in ln for ln in top), py


@pytest.mark.parametrize("n", [1, 7, 64])
def test_python_backend_bit_exact(demo, python_acc, n):
    _, x, ref = demo
    y = python_acc.execute(x[:n])
    assert y.dtype == np.float32 and y.shape == (n, 10)
    assert exact_rows(y, ref[:n]) == n


def test_float_input_and_chunking(demo, tmp_path):
    deploy, x, ref = demo
    d = shutil.copytree(deploy, tmp_path / "d")
    s = json.loads((d / "settings.json").read_text())
    s["batch"]["max"] = 3  # 7 frames -> 3 DMA transfers of 3, 3, 1
    (d / "settings.json").write_text(json.dumps(s))
    acc = Accelerator(d, backend="python")
    assert exact_rows(acc.execute(x[:7].astype(np.float32)), ref[:7]) == 7


@pytest.mark.parametrize("dma", ["iodma", "axi"])
def test_pynq_backend_on_stand_in_bit_exact(demo, tmp_path, monkeypatch, dma):
    deploy, x, ref = demo
    d = with_bitfile(deploy, tmp_path / "d")
    monkeypatch.syspath_prepend(str(FAKE_PYNQ))
    monkeypatch.setenv("FAKE_PYNQ_HW", "python")
    monkeypatch.setenv("FAKE_PYNQ_DMA", dma)
    monkeypatch.delitem(sys.modules, "pynq", raising=False)
    import pynq

    assert pynq.__version__.endswith("stand-in")
    pynq.LOG.clear()
    with Accelerator(d, backend="pynq") as acc:
        assert exact_rows(acc.execute(x[:7]), ref[:7]) == 7
        assert exact_rows(acc.execute(x[:1]), ref[:1]) == 1
        tp = acc.throughput_test(batch_size=8)
    assert any(e.startswith(f"{dma} batch 7") for e in pynq.LOG)
    assert "flush" in pynq.LOG and "invalidate" in pynq.LOG
    s = load_settings(d)
    assert s.inp.frame_bytes == 784  # 784 UINT8 pixels, one byte each
    assert tp["bytes_in"] == 8 * s.inp.frame_bytes and tp["bytes_out"] == 8 * s.out.frame_bytes
    assert tp["frames_per_s"] > 0


@pytest.mark.parametrize("n", [1, 7, 64])
def test_rtlsim_backend_bit_exact(demo, n):
    reason = rtlsim_unavailable()
    if reason:
        pytest.skip(reason)
    deploy, x, ref = demo
    acc = Accelerator(deploy, backend="rtlsim")
    assert exact_rows(acc.execute(x[:n]), ref[:n]) == n


def test_rtlsim_unavailable_is_one_clear_line(demo):
    reason = rtlsim_unavailable()
    if reason is None:
        pytest.skip("the rtlsim back end is available here (its bit-exact test runs)")
    with pytest.raises(DriverError, match="backend 'rtlsim' needs") as e:
        Accelerator(demo[0], backend="rtlsim")
    assert "\n" not in str(e.value) and backend_unavailable("rtlsim") == str(e.value)
    assert backend_unavailable("python") is None


def test_pynq_without_pynq_is_clear(demo, tmp_path, monkeypatch):
    d = with_bitfile(demo[0], tmp_path / "d")
    monkeypatch.delitem(sys.modules, "pynq", raising=False)  # the stand-in of another test
    assert not any((Path(p) / "pynq").exists() for p in sys.path if p)
    with pytest.raises(DriverError, match="backend 'pynq' needs the pynq package"):
        Accelerator(d, backend="pynq")


@pytest.mark.parametrize(
    "bad, match",
    [
        (
            np.zeros((2, 28, 28), np.uint8),
            r"input shape \[2, 28, 28\] does not match.*\[N, 1, 28, 28\]",
        ),
        (np.zeros((2, 1, 28, 27), np.uint8), r"input shape"),
        (
            np.full((2, 1, 28, 28), 256.0),
            r"input value 256.0 at index \[0, 0, 0, 0\] is not a UINT8",
        ),
        (np.full((1, 1, 28, 28), -1, np.int16), r"not a UINT8 value \(range 0..255, integers\)"),
        (np.full((1, 1, 28, 28), 1.5, np.float32), r"input value 1.5"),
        (np.full((1, 1, 28, 28), np.nan, np.float32), r"input value nan"),
        (np.full((1, 1, 28, 28), "a"), r"input dtype <U1 not accepted"),
        (np.zeros((1, 1, 28, 28), np.complex64), r"input dtype complex64"),
    ],
)
def test_malformed_inputs(python_acc, bad, match):
    with pytest.raises(DriverError, match=match) as e:
        python_acc.execute(bad)
    assert "\n" not in str(e.value)


def _edit(deploy: Path, dst: Path, fn) -> Path:
    d = shutil.copytree(deploy, dst)
    s = json.loads((d / "settings.json").read_text())
    fn(s)
    (d / "settings.json").write_text(json.dumps(s))
    return d


def test_settings_disagreeing_with_graph_is_caught(demo, tmp_path):
    deploy = demo[0]

    def refold(s):  # self-consistent, but not the folding of the built hardware
        s["accelerator"]["input"].update(
            shape_folded=[1, 392, 2], shape_packed=[1, 392, 2], stream_width_bits=16
        )

    d = _edit(deploy, tmp_path / "a", refold)
    load_settings(d)  # consistent on its own ...
    with pytest.raises(
        DriverError, match=r"accelerator.input.shape_folded is \[1, 392, 2\] but the hardware graph"
    ):
        Accelerator(d, backend="python")  # ... but not with the hardware graph

    def bad_packed(s):
        s["accelerator"]["output"]["shape_packed"] = [1, 10, 2]

    with pytest.raises(DriverError, match=r"shape_packed \[1, 10, 2\] does not match"):
        load_settings(_edit(deploy, tmp_path / "b", bad_packed))

    def bad_host(s):
        s["host"]["pre"] = []

    with pytest.raises(DriverError, match=r"host.pre ops turn shape \[1, 1, 28, 28\]"):
        load_settings(_edit(deploy, tmp_path / "c", bad_host))


def test_settings_disagreeing_with_bitfile_is_caught(demo, tmp_path, monkeypatch):
    d = with_bitfile(demo[0], tmp_path / "d")
    (d / "bitfile" / "finn-accel.bit").write_bytes(b"another build's bitstream")
    monkeypatch.syspath_prepend(str(FAKE_PYNQ))
    with pytest.raises(DriverError, match="was written for a different bitfile"):
        Accelerator(d, backend="pynq")
    # a .hwh that does not name the DMAs of settings.json
    (d / "bitfile" / "finn-accel.bit").write_bytes(b"bit")
    (d / "bitfile" / "finn-accel.hwh").write_text("<MODULE INSTANCE='idma_other'/>")
    s = json.loads((d / "settings.json").read_text())
    s["files"]["bitfile"]["sha256"] = sha256(d / "bitfile" / "finn-accel.bit")
    s["files"]["hwh"] = {
        "path": "bitfile/finn-accel.hwh",
        "sha256": sha256(d / "bitfile" / "finn-accel.hwh"),
    }
    (d / "settings.json").write_text(json.dumps(s))
    with pytest.raises(DriverError, match="DMA 'idma0' does not appear in"):
        Accelerator(d, backend="pynq")
    (d / "hw" / "dataflow.onnx").write_bytes(b"x")
    with pytest.raises(DriverError, match="was written for a different hw_graph"):
        Accelerator(d, backend="python")


def test_throughput_python(python_acc):
    tp = python_acc.throughput_test(batch_size=16)
    s = python_acc.settings
    assert tp["batch_size"] == 16 and tp["bytes_in"] == 16 * 784
    assert tp["bytes_out"] == 16 * s.out.frame_bytes
    assert tp["frames_per_s"] > 0 and tp["latency_ms"] > 0


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "fewerbits.cli", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_cli_infer_and_validate(demo, demo_run, tmp_path):
    deploy, x, ref = demo
    np.save(tmp_path / "x.npy", x[:7])
    r = _cli("infer", str(deploy), "--backend", "python", "--input", str(tmp_path / "x.npy"),
             "--out", str(tmp_path / "y.npy"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert exact_rows(np.load(tmp_path / "y.npy"), ref[:7]) == 7

    np.save(tmp_path / "bad.npy", x[:2, 0])
    r = _cli(
        "infer", str(deploy), "--input", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "z.npy")
    )
    assert r.returncode == 1 and not (tmp_path / "z.npy").exists()
    assert r.stderr.strip().count("\n") == 0 and "input shape [2, 28, 28]" in r.stderr

    r = _cli("validate", str(deploy), "--dataset", "mnist-5k", "--limit", "64",
             "--save-npz", str(tmp_path / "t.npz"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"saved the 64 samples used to {tmp_path / 't.npz'}" in r.stdout  # --limit said
    res = json.loads((deploy.parent / "validate_python.json").read_text())
    from fewerbits.train.datasets import load_dataset

    y = load_dataset("mnist-5k").y_test[:64]
    assert not list(deploy.glob("validate_*")), "validate writes outside the package"
    assert res["samples"] == 64 and res["accuracy"] == float(np.mean(ref.argmax(1) == y))
    with np.load(tmp_path / "t.npz") as t:
        assert t["x"].shape == (64, 1, 28, 28) and t["y"].shape == (64,)


def test_rtlsim_adapter_meets_simulator_contract(demo, monkeypatch):
    """The rtlsim back end's side of the contract with the stitched simulator:
    StitchedSimulator(build_dir).run_packed(uint8 (N, in_words, in_bytes_per_word)) ->
    uint8 (N, out_words, out_bytes_per_word), on the real simulator (its calls recorded)."""
    reason = rtlsim_unavailable()
    if reason:
        pytest.skip(reason)
    deploy, x, ref = demo
    acc = Accelerator(deploy, backend="rtlsim")
    sim, s = acc.backend.sim, load_settings(deploy)
    # the simulator's stream geometry is the one settings.json describes
    assert (sim.in_words, sim.in_bytes_per_word) == (s.inp.words, s.inp.packed[-1])
    assert (sim.out_words, sim.out_bytes_per_word) == (s.out.words, s.out.packed[-1])
    calls = []
    real = sim.run_packed

    def recorded(packed):
        out = real(packed)
        calls.append((packed.dtype, packed.shape, out.dtype, out.shape))
        return out

    monkeypatch.setattr(sim, "run_packed", recorded)
    assert exact_rows(acc.execute(x[:7]), ref[:7]) == 7
    words_in, words_out = int(np.prod(s.inp.packed[1:-1])), int(np.prod(s.out.packed[1:-1]))
    assert calls == [
        (np.uint8, (7, words_in, s.inp.packed[-1]), np.uint8, (7, words_out, s.out.packed[-1]))
    ]
