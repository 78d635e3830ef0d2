"""Small Brevitas nets and helpers shared by the export/verify/fix tests.

Nets take raw 0..255 pixel values. ``dyadic=True`` nets use power-of-two scales everywhere
(input scale 1/256, BatchNorm with exactly representable affine parameters), so every
quantizer's input is computed exactly in float32 and exact rounding ties are reachable — the
situation in which FINN's ``>=`` thresholds disagree with Brevitas' round-half-to-even.
"""

from __future__ import annotations

import json
from pathlib import Path

import brevitas.nn as qnn
import numpy as np
import torch
import torch.nn as nn
from brevitas.inject.enum import FloatToIntImplType
from brevitas.quant import (
    Int8WeightPerTensorFixedPoint,
    SignedBinaryActPerTensorConst,
    SignedBinaryWeightPerTensorConst,
    Uint8ActPerTensorFixedPoint,
)
from fewerbits.train.schemes import InputQuant

# UINT8 input with the constant power-of-two scale (255/256)/255 == 1/256: the zoo's quantizer
InputQuant256 = InputQuant


class WQ(Int8WeightPerTensorFixedPoint):
    """k-bit signed power-of-two-scale weights."""


class ActQ(Uint8ActPerTensorFixedPoint):
    """k-bit unsigned power-of-two-scale activations."""

    max_val = 4.0


class BinW(SignedBinaryWeightPerTensorConst):
    """Weights in {-1/8, +1/8}: a power-of-two binary scale (Brevitas' default is 0.1)."""

    scaling_const = 0.125


class Div(nn.Module):
    def __init__(self, d: float):
        super().__init__()
        self.d = d

    def forward(self, x):
        return x / self.d


def _wkw(wbits: int) -> dict:
    if wbits == 1:
        return {"weight_quant": BinW}
    return {"weight_quant": WQ, "weight_bit_width": wbits}


class ActQFloor(ActQ):
    """Like ActQ, but rounds down (exported as rounding_mode FLOOR)."""

    float_to_int_impl_type = FloatToIntImplType.FLOOR


def _act(abits: int, floor: bool = False) -> nn.Module:
    if abits == 1:
        return qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst)
    return qnn.QuantReLU(act_quant=ActQFloor if floor else ActQ, bit_width=abits)


def _input(pow2: bool) -> list[nn.Module]:
    if pow2:
        return [Div(256.0), qnn.QuantIdentity(act_quant=InputQuant256)]
    from fewerbits.train.models import ScaleInput
    from fewerbits.train.schemes import InputQuant

    return [ScaleInput(), qnn.QuantIdentity(act_quant=InputQuant)]


def dyadic_bn(bn: nn.Module, rng: np.random.Generator) -> None:
    """BatchNorm whose eval affine map is exact in float32 (var + eps == 1, dyadic params)."""
    c = bn.num_features
    bn.eps = 0.0
    bn.running_var.fill_(1.0)
    bn.running_mean.copy_(torch.from_numpy(rng.integers(-4, 5, c) / 16.0).float())
    bn.weight.data.copy_(torch.from_numpy(rng.choice([0.5, 1.0, 2.0, -1.0], c)).float())
    bn.bias.data.copy_(torch.from_numpy(rng.integers(-8, 9, c) / 16.0).float())


def mlp(
    wbits: int,
    abits: int,
    in_features: int = 64,
    hidden: tuple[int, ...] = (16, 16),
    classes: int = 10,
    bn: bool = True,
    dyadic: bool = True,
    seed: int = 0,
    pow2_input: bool = True,
    floor: bool = False,
) -> nn.Module:
    """Input quant, (QuantLinear [BN] act) per hidden layer, QuantLinear out.

    ``dyadic``: exactly representable BatchNorm; ``pow2_input``: input scale 1/256 (else the
    zoo's x/255 with scale 1/255, whose float32 products are not exact)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = [*_input(pow2_input), nn.Flatten()]
    w = in_features
    for h in hidden:
        layers.append(qnn.QuantLinear(w, h, bias=False, **_wkw(wbits)))
        if bn:
            b = nn.BatchNorm1d(h)
            if dyadic:
                dyadic_bn(b, rng)
            else:
                _random_bn(b, rng)
            layers.append(b)
        layers.append(_act(abits, floor))
        w = h
    layers.append(qnn.QuantLinear(w, classes, bias=False, **_wkw(wbits)))
    net = nn.Sequential(*layers).eval()
    net.spec = (
        "mlp",
        dict(
            wbits=wbits,
            abits=abits,
            in_features=in_features,
            hidden=hidden,
            classes=classes,
            bn=bn,
            dyadic=dyadic,
            seed=seed,
        ),
    )
    return net


def cnv(
    wbits: int,
    abits: int,
    channels: tuple[int, ...] = (8, 8),
    in_ch: int = 1,
    size: int = 10,
    classes: int = 10,
    bn: bool = True,
    pool: bool = True,
    dyadic: bool = True,
    seed: int = 0,
    pow2_input: bool = True,
) -> nn.Module:
    """A small CNV-style net: (QuantConv3x3 [BN] act [MaxPool2]) per block, QuantLinear out."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = list(_input(pow2_input))
    c, s = in_ch, size
    for i, ch in enumerate(channels):
        layers.append(qnn.QuantConv2d(c, ch, 3, bias=False, **_wkw(wbits)))
        s -= 2
        if bn:
            b = nn.BatchNorm2d(ch)
            dyadic_bn(b, rng) if dyadic else _random_bn(b, rng)
            layers.append(b)
        layers.append(_act(abits))
        if pool and i == 0 and s >= 4:
            layers.append(nn.MaxPool2d(2))
            s //= 2
        c = ch
    layers += [nn.Flatten(), qnn.QuantLinear(c * s * s, classes, bias=False, **_wkw(wbits))]
    net = nn.Sequential(*layers).eval()
    net.spec = (
        "cnv",
        dict(
            wbits=wbits,
            abits=abits,
            channels=channels,
            in_ch=in_ch,
            size=size,
            classes=classes,
            bn=bn,
            pool=pool,
            dyadic=dyadic,
            seed=seed,
        ),
    )
    return net


def _random_bn(bn: nn.Module, rng: np.random.Generator) -> None:
    """Random BN; two channels are saturated (always on / always off), as trained nets have,
    which puts their thresholds far outside the accumulator range."""
    c = bn.num_features
    bn.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.5, c)).float())
    bn.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, c)).float())
    bn.weight.data.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, c)).float())
    bias = rng.normal(0, 0.3, c)
    bias[:2] = [80.0, -80.0]
    bn.bias.data.copy_(torch.from_numpy(bias).float())


def calibrate(model: nn.Module, x: np.ndarray) -> nn.Module:
    """One training-mode pass so learned activation scales see data (BN stats untouched)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    model.train()
    for b in bns:
        b.eval()
    with torch.no_grad():
        model(torch.from_numpy(x[:64].astype(np.float32)))
    return model.eval()


# ---- tie crafting ---------------------------------------------------------------------------


def _quant_acts(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, qnn.QuantReLU)]


def pre_activations(model: nn.Module, x: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """(pre-quantization input, scale) of every multi-bit activation quantizer on ``x``."""
    got: list = []
    hooks = []
    for m in _quant_acts(model):

        def hook(mod, inp, out, got=got):
            scale = float(mod.act_quant.scale())
            got.append((inp[0].detach().numpy().copy(), scale))

        hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model(torch.from_numpy(x.astype(np.float32)))
    for h in hooks:
        h.remove()
    return got


def count_ties(model: nn.Module, x: np.ndarray) -> list[int]:
    """Per activation quantizer: how many elements land exactly on a rounding tie."""
    out = []
    for v, s in pre_activations(model, x):
        q = v.astype(np.float64) / s
        bits = 2**30
        out.append(int(np.sum((q - np.floor(q) == 0.5) & (q > 0) & (q < bits))))
    return out


def craft_first_layer_ties(model: nn.Module, shape: tuple[int, ...], abits: int) -> np.ndarray:
    """UINT8 inputs that put every channel of the first activation quantizer exactly on every
    rounding tie it can reach (greedy integer solve of the first layer's exact linear map)."""
    n_in = int(np.prod(shape))
    zero = np.zeros((1, *shape), np.float32)
    base = pre_activations(model, zero)[0][0].reshape(-1)
    scale = pre_activations(model, zero)[0][1]
    # the exact linear map of pixel i: response to a unit pixel step (one batched pass)
    eye = np.eye(n_in, dtype=np.float32).reshape(n_in, *shape)
    cols = pre_activations(model, eye)[0][0].reshape(n_in, -1) - base[None, :]
    a = cols  # (n_in, channels)
    pre_shape = pre_activations(model, zero)[0][0].shape[1:]
    # one element per channel (position 0 of each conv channel): every channel, every level
    per_ch = int(np.prod(pre_shape[1:])) if len(pre_shape) > 1 else 1
    xs = []
    for c in range(0, a.shape[1], per_ch):
        for k in range(2**abits - 1):
            target = (k + 0.5) * scale - base[c]
            x = np.zeros(n_in)
            rem = target
            order = np.argsort(-np.abs(a[:, c]))
            for i in order:
                if a[i, c] == 0 or rem == 0:
                    continue
                step = np.clip(np.floor(rem / a[i, c]), 0, 255)
                x[i] = step
                rem -= step * a[i, c]
            if rem == 0:
                xs.append(x.reshape(shape))
    return np.asarray(xs, np.float32).reshape(-1, *shape)


# ---- build + verify --------------------------------------------------------------------------


def export_factory_model(
    model: nn.Module, shape: tuple[int, ...], out: Path, samples: np.ndarray | None = None
) -> Path:
    """Write the model as a user would (file.py:factory + --weights state_dict) and export it
    through the real API. ``model`` must come from :func:`mlp`/:func:`cnv` (it records its
    constructor call in ``model.spec``)."""
    from fewerbits.export.exporter import export

    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "weights.pt")
    fn, kwargs = model.spec
    (out / "factory.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import verify_nets\n\n\n"
        f"def make():\n    return verify_nets.{fn}(**{kwargs!r})\n"
    )
    export(
        {"factory": f"{out / 'factory.py'}:make", "weights": str(out / "weights.pt")},
        out / "export",
        shape,
        samples=samples,
    )
    return out / "export"


def build(export_dir: Path, until: str = "codegen", target_fps: int | None = None) -> Path:
    """Run the real FINN flow (hw/build/) on an export; return the build folder."""
    from fewerbits.hw.build import build as flow_build

    from fewerbits.core.config import BuildConfig

    bdir = export_dir.parent / "build"
    flow_build(
        export_dir / "model.onnx",
        bdir,
        BuildConfig(until=until, target_fps=target_fps),
        progress=False,
    )
    return bdir


def verify(d: Path, x: np.ndarray) -> dict:
    from fewerbits.verify import verify_directory

    np.save(d / "inputs.npy", x)
    # the Verilator levels have their own tests (tests/test_rtlsim_*.py); here they would
    # compile one model per net and layer
    return verify_directory(d, d / "inputs.npy", progress=False, skip=("rtl_nodes", "rtl_stitched"))


def levels_by_name(res: dict) -> dict:
    return {lv["name"]: lv for lv in res["levels"]}


def dump(res: dict) -> str:
    return json.dumps(
        [
            {k: lv[k] for k in ("name", "status", "bit_exact", "samples", "node", "reason")}
            for lv in res["levels"]
        ],
        indent=1,
    )
