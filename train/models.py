"""Model zoo (BNN-PYNQ topologies) and loading of user models given as ``file.py:factory``.

Every model takes raw pixel values 0..255 as float32 (NC or NCHW) and divides by 255 itself, so
the exported graph's input is UINT8 in hardware.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import brevitas.nn as qnn
import torch
import torch.nn as nn

from fewerbits.errors import FewerbitsError

from .schemes import Scheme


class ModelError(FewerbitsError):
    """A model name or user factory that cannot be built."""


class ScaleInput(nn.Module):
    """Divides raw pixel values by 255 (exported as a Div node in front of the input quantizer)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / 255.0


class MLP(nn.Module):
    """BNN-PYNQ fully connected net: input quant, hidden layers of Linear-BN-act, Linear out."""

    def __init__(self, scheme: Scheme, in_features: int, hidden: tuple[int, ...], classes: int):
        super().__init__()
        layers: list[nn.Module] = [ScaleInput(), scheme.input_layer(), nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [
                qnn.QuantLinear(width, h, bias=False, **scheme.weight_kwargs()),
                nn.BatchNorm1d(h),
                scheme.act_layer(h),
            ]
            width = h
        layers.append(qnn.QuantLinear(width, classes, bias=False, **scheme.weight_kwargs()))
        self.layers = nn.Sequential(*layers)

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
}


def load_factory(spec: str) -> Callable[..., nn.Module]:
    """Load ``path/to/file.py:factory`` and return the factory function."""
    path_str, sep, func = spec.rpartition(":")
    if not sep or not path_str.endswith(".py"):
        raise ModelError(
            f"--model {spec!r}: expected a zoo name ({', '.join(ZOO)}) or file.py:factory"
        )
    path = Path(path_str)
    if not path.is_file():
        raise ModelError(f"--model {spec!r}: file {path} not found")
    mod_spec = importlib.util.spec_from_file_location(f"fewerbits_user_{path.stem}", path)
    assert mod_spec and mod_spec.loader
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    factory = getattr(module, func, None)
    if not callable(factory):
        raise ModelError(f"--model {spec!r}: {path} has no function {func!r}")
    return factory


def build_model(
    name: str, scheme: Scheme, input_shape: tuple[int, ...], classes: int, width: float = 1.0
) -> nn.Module:
    """Build a zoo model or a user model (``file.py:factory``) for a scheme."""
    if name in ZOO:
        return ZOO[name].build(scheme, input_shape, classes, width)
    if ":" not in name:
        raise ModelError(
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
    kwargs = {k: v for k, v in offered.items() if k in params}
    model = factory(**kwargs)
    if not isinstance(model, nn.Module):
        raise ModelError(
            f"--model {name!r}: the factory returned {type(model).__name__}, not nn.Module"
        )
    return model
