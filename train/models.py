"""Model zoo (BNN-PYNQ topologies) and loading of user models given as ``file.py:factory``.

Every model takes raw pixel values 0..255 as float32 (NC or NCHW) and divides by 256 itself, so
the exported graph's input is UINT8 in hardware.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import brevitas.nn as qnn
import torch
import torch.nn as nn

from fewerbits.core.errors import FewerbitsError, UsageError
from fewerbits.core.userfile import UserFileError, load_object

from .schemes import Scheme


class ModelError(FewerbitsError):
    """A model name or user factory that cannot be built."""


class ModelOptionError(ModelError, UsageError):
    """A zoo --model that does not exist or does not fit the --dataset (exit 2)."""


class ScaleInput(nn.Module):
    """Divides raw pixel values by 256, a power of two (exported as a Div node in front of the
    input quantizer; see schemes.InputQuant for why not 255)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / 256.0


def fc_head(
    scheme: Scheme, in_features: int, hidden: tuple[int, ...], classes: int
) -> list[nn.Module]:
    """Hidden Linear-BN-act layers, then the (unquantized-output) Linear classifier."""
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [
            qnn.QuantLinear(width, h, bias=False, **scheme.weight_kwargs()),
            nn.BatchNorm1d(h),
            scheme.act_layer(h),
        ]
        width = h
    layers.append(qnn.QuantLinear(width, classes, bias=False, **scheme.weight_kwargs()))
    return layers


class MLP(nn.Module):
    """BNN-PYNQ fully connected net: input quant, hidden layers of Linear-BN-act, Linear out."""

    def __init__(self, scheme: Scheme, in_features: int, hidden: tuple[int, ...], classes: int):
        super().__init__()
        layers: list[nn.Module] = [ScaleInput(), scheme.input_layer(), nn.Flatten()]
        self.layers = nn.Sequential(*layers, *fc_head(scheme, in_features, hidden, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


#: BNN-PYNQ CNV: (output channels, max-pool after this conv) for the six 3x3 unpadded convs
CNV_CONVS: tuple[tuple[int, bool], ...] = (
    (64, False),
    (64, True),
    (128, False),
    (128, True),
    (256, False),
    (256, False),
)
CNV_FCS: tuple[int, ...] = (512, 512)


class CNV(nn.Module):
    """BNN-PYNQ CNV: 3x3 unpadded conv-BN-act layers 64-64-pool-128-128-pool-256-256, then
    FC 512-512 and the output layer; max-pool after the quantized activation (as FINN expects).

    At 32x32 the last conv leaves 1x1 (BNN-PYNQ's shape). For smaller inputs (28x28 MNIST) the
    trailing 256-channel convs that would shrink the map below 1x1 are left out (28x28: one is,
    leaving 2x2x256); inputs smaller than 16x16 are refused."""

    def __init__(
        self, scheme: Scheme, input_shape: tuple[int, ...], classes: int, width: float = 1.0
    ):
        super().__init__()
        if len(input_shape) != 3:
            raise ModelOptionError(
                f"--model cnv needs image input (C, H, W), got shape {input_shape}"
            )
        c, h, w = input_shape
        layers: list[nn.Module] = [ScaleInput(), scheme.input_layer()]
        for i, (ch_full, pool) in enumerate(CNV_CONVS):
            ch = max(1, round(ch_full * width))
            if min(h, w) - 2 < 1:
                if i < 4:  # both pools must fit
                    raise ModelOptionError(
                        f"--model cnv: input {h}x{w} is too small (needs at least 16x16)"
                    )
                break
            layers += [
                qnn.QuantConv2d(c, ch, 3, padding=0, bias=False, **scheme.weight_kwargs()),
                nn.BatchNorm2d(ch),
                scheme.act_layer(ch),
            ]
            c, h, w = ch, h - 2, w - 2
            if pool:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
        layers.append(nn.Flatten())
        fcs = tuple(max(1, round(f * width)) for f in CNV_FCS)
        self.layers = nn.Sequential(*layers, *fc_head(scheme, c * h * w, fcs, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@dataclass(frozen=True)
class ZooEntry:
    """A built-in topology."""

    build: Callable[..., nn.Module]  # (scheme, input_shape, classes, width) -> model
    description: str


def _mlp(hidden: tuple[int, ...]) -> Callable[[Scheme, tuple[int, ...], int], nn.Module]:
    def build(
        scheme: Scheme, input_shape: tuple[int, ...], classes: int, width: float = 1.0
    ) -> nn.Module:
        features = 1
        for d in input_shape:
            features *= d
        return MLP(scheme, features, tuple(max(1, round(h * width)) for h in hidden), classes)

    return build


ZOO: dict[str, ZooEntry] = {
    "tfc": ZooEntry(_mlp((64, 64, 64)), "MLP, 3 hidden layers of 64 (BNN-PYNQ TFC)"),
    "sfc": ZooEntry(_mlp((256, 256, 256)), "MLP, 3 hidden layers of 256 (BNN-PYNQ SFC)"),
    "lfc": ZooEntry(_mlp((1024, 1024, 1024)), "MLP, 3 hidden layers of 1024 (BNN-PYNQ LFC)"),
    "cnv": ZooEntry(CNV, "VGG-like conv net 64-64-128-128-256-256, FC 512-512 (BNN-PYNQ CNV)"),
}


def load_factory(spec: str) -> Callable[..., nn.Module]:
    """Load ``path/to/file.py:factory`` and return the factory function."""
    try:
        factory = load_object(
            spec, "--model", expected=f"a zoo name ({', '.join(ZOO)}) or file.py:factory"
        )
    except UserFileError as e:
        raise ModelError(str(e)) from e.__cause__
    if not callable(factory):
        raise ModelError(f"--model {spec!r}: {factory!r} is not a function")
    return factory


#: the arguments fewerbits passes a ``file.py:factory`` when it names them
FACTORY_ARGUMENTS = ("scheme", "wbits", "abits", "input_shape", "num_classes")
#: the ones that carry the quantization scheme (a factory taking none of them fixes its own)
SCHEME_ARGUMENTS = ("scheme", "wbits", "abits")


def factory_arguments(name: str) -> list[str] | None:
    """Which of :data:`FACTORY_ARGUMENTS` the factory ``name`` takes; None for a zoo model."""
    if name in ZOO or ":" not in name:
        return None
    params = inspect.signature(load_factory(name)).parameters
    return [k for k in FACTORY_ARGUMENTS if k in params]


def required_arguments(factory: Callable[..., nn.Module]) -> list[str]:
    """The parameters of ``factory`` without a default (a call with no arguments fails)."""
    return [
        k
        for k, p in inspect.signature(factory).parameters.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]


def build_model(
    name: str, scheme: Scheme, input_shape: tuple[int, ...], classes: int, width: float = 1.0
) -> nn.Module:
    """Build a zoo model or a user model (``file.py:factory``) for a scheme."""
    if name in ZOO:
        return ZOO[name].build(scheme, input_shape, classes, width)
    if ":" not in name:
        raise ModelOptionError(
            f"--model {name!r}: unknown model; choose one of {', '.join(ZOO)} or file.py:factory"
        )
    factory = load_factory(name)
    params = inspect.signature(factory).parameters
    offered = {
        "scheme": scheme,
        "wbits": scheme.wbits,
        "abits": scheme.abits,
        "input_shape": input_shape,
        "num_classes": classes,
    }
    kwargs = {k: v for k, v in offered.items() if k in params and k in FACTORY_ARGUMENTS}
    try:
        model = factory(**kwargs)
    except Exception as e:  # noqa: BLE001 - any error in user code becomes one line
        raise ModelError(f"--model {name!r}: the factory raised {type(e).__name__}: {e}") from e
    if not isinstance(model, nn.Module):
        raise ModelError(
            f"--model {name!r}: the factory returned {type(model).__name__}, not nn.Module"
        )
    return model
