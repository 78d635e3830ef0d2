"""Random-weight BNN-PYNQ-like nets (TFC, CNV) exported to QONNX, for folding benchmarks/tests.

Weights and BatchNorm statistics are random (seeded): folding, estimates and code generation do
not depend on trained values, only on shapes and datatypes.
"""

from __future__ import annotations

from pathlib import Path

import brevitas.nn as qnn  # noqa: I001  (after fewerbits: the schemes module configures it)
import torch
import torch.nn as nn
from fewerbits.export.exporter import export_qonnx
from fewerbits.train.models import MLP, ScaleInput, fc_head
from fewerbits.train.schemes import make_scheme


def _scheme(wbits: int, abits: int):
    if wbits == 1 and abits == 1:
        return make_scheme("binarynet")
    return make_scheme("int", wbits, abits)


class CNV(nn.Module):
    """BNN-PYNQ CNV: 3x3 convs (no padding) 64,64,pool,128,128,pool,256,256; FC 512,512,classes.

    ``width`` scales every channel count (1.0 is the real CNV; 0.125 a small test net)."""

    def __init__(self, scheme, width: float = 1.0, classes: int = 10, in_ch: int = 3):
        super().__init__()
        c = [max(2, int(round(x * width))) for x in (64, 64, 128, 128, 256, 256)]
        fc = [max(4, int(round(x * width))) for x in (512, 512)]
        layers: list[nn.Module] = [ScaleInput(), scheme.input_layer()]
        prev = in_ch
        for i, ch in enumerate(c):
            layers += [
                qnn.QuantConv2d(prev, ch, 3, bias=False, **scheme.weight_kwargs()),
                nn.BatchNorm2d(ch),
                scheme.act_layer(ch),
            ]
            if i in (1, 3):
                layers.append(nn.MaxPool2d(2))
            prev = ch
        layers.append(nn.Flatten())
        self.layers = nn.Sequential(*layers, *fc_head(scheme, prev, tuple(fc), classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _randomise_bn(model: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 2)
            m.running_var.copy_(torch.rand(n, generator=g) * 4 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


def export_net(
    name: str, wbits: int, abits: int, out: Path, width: float = 1.0, seed: int = 0
) -> Path:
    """Export a random-weight ``tfc`` or ``cnv`` net to ``out`` (a .onnx path); return it."""
    torch.manual_seed(seed)
    scheme = _scheme(wbits, abits)
    if name == "tfc":
        model, shape = MLP(scheme, 784, (64, 64, 64), 10), (1, 28, 28)
    elif name == "cnv":
        model, shape = CNV(scheme, width=width), (3, 32, 32)
    else:
        raise ValueError(name)
    _randomise_bn(model, seed)
    model.eval()
    out = Path(out)
    export_qonnx(model, shape, out)
    return out
