"""train/: schemes, models, datasets, trainer (real Brevitas training on real small datasets)."""

from __future__ import annotations

import gzip
import io
import pickle
import socket
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from brevitas.nn import QuantConv2d, QuantLinear
from fewerbits.train import datasets as ds
from fewerbits.train.models import CNV, ModelError, build_model
from fewerbits.train.schemes import (
    NOT_DEPLOYABLE_HINT,
    SCHEMES,
    SchemeError,
    make_scheme,
)
from fewerbits.train.trainer import TrainError, load_checkpoint, read_checkpoint, train

from fewerbits.core.config import TrainConfig
from fewerbits.core.files import sha256_file

FEWERBITS = [sys.executable, "-m", "fewerbits.cli"]

#: (scheme, wbits, abits): every scheme, and the k-bit ones at more than one width
CASES = [
    ("float", 32, 32),
    ("binaryconnect", 1, 32),
    ("binarynet", 1, 1),
    ("xnor", 1, 1),
    ("dorefa", 2, 2),
    ("dorefa", 3, 4),
    ("dorefa", 1, 1),
    ("int", 2, 2),
    ("int", 4, 3),
    ("int", 1, 2),
]


@pytest.fixture(scope="module")
def digits() -> ds.Dataset:
    return ds.load_dataset("digits")


def small_cfg(scheme: str, w: int, a: int, **kw) -> TrainConfig:
    base = dict(
        model="tfc", scheme=scheme, wbits=w, abits=a, dataset="digits", epochs=4, batch_size=64
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory) -> dict:
    """Each case trained 4 short epochs on 8x8 digits: (report, out dir, final in-memory model)."""
    runs = {}
    for case in CASES:
        out = tmp_path_factory.mktemp("run")
        final = {}
        rep = train(
            small_cfg(*case, max_steps=8),
            out,
            digits,
            progress=False,
            on_epoch_end=lambda e, row, m, final=final: final.update(model=m),
        )
        runs[case] = (rep, out, final["model"])
    return runs


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-w{c[1]}a{c[2]}")
def test_every_scheme_trains_with_decreasing_loss(trained, case):
    rep, out, _ = trained[case]
    losses = [h["loss"] for h in rep["history"]]
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0], losses
    assert rep["test_accuracy"] > 0.3  # 10 classes: chance is 0.1
    assert (out / "train.json").is_file() and (out / "checkpoint.pt").is_file()


def _is_power_of_two(t: torch.Tensor) -> bool:
    e = torch.log2(t.detach().abs().double())
    return bool(torch.all(e == torch.round(e)))


@pytest.mark.parametrize(
    "case", [c for c in CASES if c[0] != "float"], ids=lambda c: f"{c[0]}-w{c[1]}a{c[2]}"
)
def test_quantized_weights_take_only_allowed_values(trained, case):
    _, _, model = trained[case]
    scheme = make_scheme(*case)
    layers = [m for m in model.modules() if isinstance(m, QuantLinear | QuantConv2d)]
    assert len(layers) == 4
    for layer in layers:
        qw = layer.quant_weight()
        values = qw.value.detach().reshape(qw.value.shape[0], -1)
        scale = qw.scale.detach().reshape(-1, 1) if qw.scale.numel() > 1 else qw.scale.detach()
        assert _is_power_of_two(qw.scale), "deployable schemes keep power-of-two scales"
        ints = values / scale
        assert torch.equal(ints, torch.round(ints)), "weights are integers times the scale"
        for row in range(values.shape[0]):
            levels = torch.unique(values[row])
            if scheme.weight_levels() == 2:  # binary: exactly +-alpha per output channel
                assert len(levels) == 2 and levels[0] == -levels[1], levels
            else:
                m = 2 ** (scheme.wbits - 1) - 1
                assert len(levels) <= 2**scheme.wbits - 1
                assert ints[row].abs().max() <= m
        if case[0] == "xnor":  # one scale per output channel
            assert qw.scale.numel() == values.shape[0]


def test_dorefa_weights_follow_tanh_normalisation(trained):
    _, _, model = trained[("dorefa", 3, 4)]
    layer = next(m for m in model.modules() if isinstance(m, QuantLinear))
    w = layer.weight.detach()
    t = torch.tanh(w) / torch.tanh(w).abs().max()
    expected = torch.round(3 * t) * 0.25  # M = 3, scale 2^-2
    assert torch.equal(layer.quant_weight().value.detach(), expected)


@pytest.mark.parametrize(
    "case", [("int", 2, 2), ("xnor", 1, 1), ("dorefa", 2, 2), ("float", 32, 32)]
)
def test_checkpoint_roundtrip_rebuilds_identical_model(trained, digits, case):
    rep, out, model = trained[case]
    rebuilt, ckpt = load_checkpoint(out)
    x = torch.from_numpy(digits.x_test.astype(np.float32))
    model.eval()
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))
    assert ckpt["deployable"] == SCHEMES[case[0]][2]
    assert ckpt["input_shape"] == [1, 8, 8] and ckpt["classes"] == 10
    assert ckpt["epoch"] == 4 and len(ckpt["history"]) == 4
    if not ckpt["deployable"]:
        assert ckpt["not_deployable_reason"] == NOT_DEPLOYABLE_HINT


def test_same_seed_same_weights(digits, tmp_path):
    cfg = small_cfg("int", 2, 2, epochs=1, max_steps=5)
    train(cfg, tmp_path / "a", digits, progress=False)
    train(cfg, tmp_path / "b", digits, progress=False)
    a = read_checkpoint(tmp_path / "a")["state_dict"]
    b = read_checkpoint(tmp_path / "b")["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_continues_an_interrupted_run_exactly(digits, tmp_path):
    cfg = small_cfg("int", 2, 2, epochs=3, max_steps=6)
    train(cfg, tmp_path / "full", digits, progress=False)

    def stop_after_first(epoch, row, model):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", digits, progress=False, on_epoch_end=stop_after_first)
    assert read_checkpoint(tmp_path / "cut")["epoch"] == 1
    rep = train(cfg, tmp_path / "cut", digits, progress=False, resume=True)
    assert rep["resumed_from_epoch"] == 1 and [h["epoch"] for h in rep["history"]] == [1, 2, 3]
    full, cut = read_checkpoint(tmp_path / "full"), read_checkpoint(tmp_path / "cut")
    assert cut["epoch"] == 3
    assert all(torch.equal(full["state_dict"][k], cut["state_dict"][k]) for k in full["state_dict"])
    steps = {i: float(s["step"]) for i, s in cut["optimizer"]["state"].items()}
    assert max(steps.values()) == 3 * 6, "Adam continued, not restarted"
    assert steps == {i: float(s["step"]) for i, s in full["optimizer"]["state"].items()}
    # longer run: continue to 4 epochs from the finished 3
    rep4 = train(replace(cfg, epochs=4), tmp_path / "cut", digits, progress=False, resume=True)
    assert [h["epoch"] for h in rep4["history"]] == [1, 2, 3, 4]
    with pytest.raises(TrainError, match="scheme"):
        train(replace(cfg, scheme="dorefa"), tmp_path / "cut", digits, progress=False, resume=True)


def test_user_model_file(digits, tmp_path):
    f = tmp_path / "mynet.py"
    f.write_text(
        "import brevitas.nn as qnn, torch.nn as nn\n"
        "from fewerbits.train.schemes import InputQuant\n"
        "def make(wbits, num_classes, input_shape):\n"
        "    return nn.Sequential(nn.Flatten(), qnn.QuantIdentity(act_quant=InputQuant),\n"
        "        qnn.QuantLinear(input_shape[-1] * input_shape[-2], 32, bias=False,\n"
        "                        weight_bit_width=wbits),\n"
        "        nn.BatchNorm1d(32), qnn.QuantReLU(bit_width=4),\n"
        "        qnn.QuantLinear(32, num_classes, bias=False, weight_bit_width=wbits))\n"
    )
    cfg = small_cfg("int", 4, 4, model=f"{f}:make", epochs=3, max_steps=8, lr=0.01)
    final = {}
    rep = train(
        cfg,
        tmp_path / "out",
        digits,
        progress=False,
        on_epoch_end=lambda e, r, m: final.update(m=m),
    )
    assert rep["history"][-1]["loss"] < rep["history"][0]["loss"]
    rebuilt, ckpt = load_checkpoint(tmp_path / "out")
    assert ckpt["config"]["model"] == f"{f.resolve()}:make"
    x = torch.from_numpy(digits.x_test[:50].astype(np.float32))
    with torch.no_grad():
        assert torch.equal(rebuilt(x), final["m"].eval()(x))
    with pytest.raises(ModelError, match="defines no 'nope'"):
        build_model(f"{f}:nope", make_scheme("int", 2, 2), (1, 8, 8), 10)
    # train.json records what the factory was given; export with --weights cannot call it
    assert rep["factory_arguments"] == ["wbits", "input_shape", "num_classes"]
    assert (rep["scheme"], rep["wbits"], rep["abits"]) == ("int", 4, 4)
    from fewerbits.export.exporter import ExportError, export

    source = {"factory": f"{f}:make", "weights": str(tmp_path / "w.pt")}
    with pytest.raises(ExportError, match="needs wbits, num_classes, input_shape.*TRAIN_DIR"):
        export(source, tmp_path / "e", input_shape=(1, 8, 8))
    assert not (tmp_path / "e").exists()


def test_factory_with_its_own_scheme_records_none(digits, tmp_path):
    """A factory that takes no scheme argument: train.json does not claim --scheme's default."""
    f = tmp_path / "fixed.py"
    f.write_text(
        "from fewerbits.train.models import MLP\n"
        "from fewerbits.train.schemes import make_scheme\n"
        "def make(num_classes):\n"
        "    return MLP(make_scheme('int', 3, 3), 64, (8,), num_classes)\n"
    )
    rep = train(
        small_cfg("int", 2, 2, model=f"{f}:make", max_steps=1),
        tmp_path / "t",
        digits,
        progress=False,
    )
    assert rep["factory_arguments"] == ["num_classes"]
    assert (rep["scheme"], rep["wbits"], rep["abits"], rep["deployable"]) == (None,) * 4


def test_cnv_shapes():
    s = make_scheme("int", 2, 2)
    fc = [m for m in CNV(s, (3, 32, 32), 10).modules() if isinstance(m, QuantLinear)]
    assert fc[0].in_features == 256  # 1x1x256 as in BNN-PYNQ
    convs = [m for m in CNV(s, (1, 28, 28), 10).modules() if isinstance(m, QuantConv2d)]
    assert len(convs) == 5 and all(c.padding == (0, 0) for c in convs)
    m = CNV(s, (1, 28, 28), 10).eval()
    assert m(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ModelError, match="too small"):
        CNV(s, (1, 8, 8), 10)


def test_scheme_bit_range():
    for bad in (0, 9):
        with pytest.raises(SchemeError, match=f"--wbits {bad} is out of range"):
            make_scheme("dorefa", bad, 2)
        with pytest.raises(SchemeError, match=f"--abits {bad} is out of range"):
            make_scheme("int", 2, bad)
    assert make_scheme("dorefa", 8, 1).wbits == 8
    assert make_scheme("float", 32, 32).deployable is False


# ---- datasets ------------------------------------------------------------------------------


def test_digits_are_uint8_images():
    d = ds.load_dataset("digits")
    assert d.x_train.dtype == np.uint8 and d.input_shape == (1, 8, 8)
    assert d.x_train.max() == 255 and len(d.x_train) + len(d.x_test) == 1797


def test_fashion_mnist_from_debian_package():
    if not all((ds.FASHION_DEBIAN_DIR / f).is_file() for f in ds.IDX_FILES):
        pytest.skip(
            f"{ds.FASHION_DEBIAN_DIR} absent: `apt-get install dataset-fashion-mnist` provides it"
        )
    d = ds.load_dataset("fashion-mnist")
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert sorted(np.unique(d.y_test)) == list(range(10))


def test_fetch_checks_sha256_and_leaves_nothing_half_written(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"fewerbits" * 100)
    good = sha256_file(src)
    cache = tmp_path / "cache"
    with pytest.raises(ds.DatasetError, match="checksum mismatch"):
        ds.fetch("x", [src.as_uri()], "0" * 64, cache / "f.bin")
    assert list(cache.iterdir()) == []
    assert ds.fetch("x", [src.as_uri()], good, cache / "f.bin").read_bytes() == src.read_bytes()
    with pytest.raises(ds.DatasetError, match="not cached") as e:
        ds.fetch("x", [(tmp_path / "missing").as_uri()], good, cache / "g.bin")
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in cache.iterdir()) == ["f.bin"]


def test_idx_and_cifar_readers(tmp_path):
    imgs = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    p = tmp_path / "i.gz"
    p.write_bytes(
        gzip.compress(
            b"\0\0\x08\x03" + b"".join(d.to_bytes(4, "big") for d in imgs.shape) + imgs.tobytes()
        )
    )
    assert np.array_equal(ds.read_idx(p, "t"), imgs)
    p.write_bytes(gzip.compress(b"\0\0\x08\x03" + (5).to_bytes(4, "big") * 3))
    with pytest.raises(ds.DatasetError, match="truncated"):
        ds.read_idx(p, "t")
    # CIFAR-10 python archive layout, tiny
    rng = np.random.default_rng(0)
    tar_path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            blob = pickle.dumps(
                {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [1, 2, 3, 4]}
            )
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    d = ds.load_dataset("cifar10", tar_path)
    assert d.x_train.shape == (20, 3, 32, 32) and d.x_test.shape == (4, 3, 32, 32)


# ---- the real CLI: one clear line, non-zero exit -------------------------------------------


def _online(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False


#: (arguments, wording, exit code: 2 for a bad option value, 1 for a missing file)
BAD_INPUTS = [
    (["--model", "resnet9"], "--model 'resnet9': unknown model", 2),
    (["--model", "nothere.py:make"], "file nothere.py not found", 1),
    (["--scheme", "int", "--wbits", "0"], "--wbits 0 is out of range", 2),
    (["--scheme", "dorefa", "--abits", "9"], "--abits 9 is out of range", 2),
    (["--scheme", "ternary"], "--scheme 'ternary' is unknown", 2),
    (["--dataset", "imagenet"], "--dataset 'imagenet' is unknown", 2),
]


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory) -> list[tuple[Path, subprocess.CompletedProcess]]:
    """Every bad invocation of the real CLI, started together (each one pays torch's import)."""
    procs = []
    for args, *_ in BAD_INPUTS:
        out = tmp_path_factory.mktemp("bad") / "out"
        cmd = [*FEWERBITS, "train", "--dataset", "digits", *args, "--out", str(out), "-q"]
        procs.append(
            (out, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        )
    done = []
    for out, p in procs:
        stdout, stderr = p.communicate(timeout=300)
        done.append((out, subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)))
    return done


@pytest.mark.parametrize("i", range(len(BAD_INPUTS)), ids=[m for _, m, _ in BAD_INPUTS])
def test_cli_bad_input_one_line(bad_input_runs, i):
    out, r = bad_input_runs[i]
    _, message, code = BAD_INPUTS[i]
    assert r.returncode == code, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("fewerbits train: error:")]
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not (out / "checkpoint.pt").exists()


def test_cli_mnist_offline_one_line(tmp_path):
    if _online("storage.googleapis.com"):
        pytest.skip("this machine is online: `--dataset mnist` would download 11 MB")
    r = subprocess.run(
        [*FEWERBITS, "train", "--dataset", "mnist", "--out", str(tmp_path / "o"), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "FEWERBITS_DATA": str(tmp_path / "cache")},
    )
    assert r.returncode == 1
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("fewerbits train: error:")]
    assert len(err) == 1 and "dataset mnist" in err[0] and "FEWERBITS_DATA" in err[0]
    assert not any(Path(tmp_path / "cache" / "mnist").glob("*"))


def test_cli_train_and_resume(tmp_path):
    out = tmp_path / "run"
    base = [*FEWERBITS, "train", "--dataset", "digits", "--max-steps", "3", "--out", str(out), "-q"]
    r = subprocess.run([*base, "--epochs", "1"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [*base, "--epochs", "2", "--resume"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    ckpt = read_checkpoint(out)
    assert ckpt["epoch"] == 2 and [h["epoch"] for h in ckpt["history"]] == [1, 2]


@pytest.mark.parametrize("case", [("dorefa", 2, 2), ("xnor", 1, 1)])
def test_dorefa_and_xnor_export_as_plain_quant_nodes(trained, digits, tmp_path, case):
    """The tanh normalisation and per-channel scale leave plain (Bipolar)Quant nodes, and
    QONNX execution equals PyTorch bit for bit (power-of-two scales)."""
    from fewerbits.export.exporter import execute_qonnx, export_qonnx

    _, out, _ = trained[case]
    model, ckpt = load_checkpoint(out)
    w = export_qonnx(model, tuple(ckpt["input_shape"]), tmp_path / "model.onnx")
    ops = {n.op_type for n in w.graph.node}
    assert ops <= {
        "Quant",
        "BipolarQuant",
        "MatMul",
        "Gemm",
        "BatchNormalization",
        "Relu",
        "Div",
        "Reshape",
        "Flatten",
        "Mul",
        "Add",
        "Transpose",  # of the quantized weight, before MatMul (TorchScript export of Linear)
    }, ops
    assert "Tanh" not in ops
    x = digits.x_test[:40].astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.array_equal(execute_qonnx(w, x), ref)


def test_cnv_converts_to_finn_hardware_layers(tmp_path):
    """A CNV (random weights, int w2a2, 28x28x1) exports and goes through FINN to estimates
    with every layer a hardware layer: unpadded convs, max-pool after quantized activations."""
    from fewerbits.export.exporter import export_qonnx
    from fewerbits.hw.build import build
    from qonnx.core.modelwrapper import ModelWrapper

    from fewerbits.core.config import BuildConfig

    torch.manual_seed(0)
    model = build_model("cnv", make_scheme("int", 2, 2), (1, 28, 28), 10)
    model.train()
    with torch.no_grad():  # a few batches so BN and activation statistics are not trivial
        for _ in range(3):
            model(torch.randint(0, 256, (8, 1, 28, 28)).float())
    model.eval()
    export_qonnx(model, (1, 28, 28), tmp_path / "model.onnx")
    res = build(
        tmp_path / "model.onnx",
        tmp_path / "build",
        BuildConfig(until="estimates", target_fps=1000),
        progress=False,
    )
    ops = [n.op_type for n in ModelWrapper(str(res.final_model)).graph.node]
    assert (
        ops.count("ConvolutionInputGenerator_rtl") + ops.count("ConvolutionInputGenerator_hls") == 7
    )
    assert sum(o.startswith("MVAU") for o in ops) == 8  # 5 convs + 3 FC
    assert sum(o.startswith(("Pool", "StreamingMaxPool", "MaxPool")) for o in ops) == 2
    hw = ("MVAU", "ConvolutionInputGenerator", "Pool", "StreamingMaxPool", "MaxPool",
          "Thresholding", "ElementwiseMul", "ElementwiseAdd", "LabelSelect")  # fmt: skip
    assert all(o.startswith(hw) for o in ops), ops
    assert res.estimates["fps"] > 0
