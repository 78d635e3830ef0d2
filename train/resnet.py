"""A small ResNet written the way Brevitas' bnn_pynq ResNet writes its basic block (default
quantizers, float scales): the one definition the residual tests (tests/test_rtl_lib_residual.py)
and the external-models benchmark (benchmarks/external_models.py) build on."""

from __future__ import annotations

import brevitas.nn as qnn
import torch
import torch.nn as nn


class ResBlock(nn.Module):
    """A basic block as Brevitas' bnn_pynq ResNet writes it: the quantizer that made the
    block's input (``shared``) also quantizes the residual branch; with ``shared=None`` the
    branch has its own QuantReLU and a float tensor goes into the add (two scales).
    ``downsample``: the shortcut is a 1x1 conv -> BN -> QuantReLU whose quantizer is then the
    shared one (as bnn_pynq's ResNet writes a downsampling block): both branches threshold."""

    def __init__(self, ch: int, shared: nn.Module | None, downsample: bool = False):
        super().__init__()
        self.downsample = nn.Sequential()
        if downsample:
            self.downsample = nn.Sequential(
                qnn.QuantConv2d(ch, ch, 1, bias=False),
                nn.BatchNorm2d(ch),
                qnn.QuantReLU(return_quant_tensor=True),
            )
            shared = self.downsample[-1]
        self.conv1 = qnn.QuantConv2d(ch, ch, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.relu1 = qnn.QuantReLU(return_quant_tensor=True)
        self.conv2 = qnn.QuantConv2d(ch, ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.relu2 = shared if shared is not None else qnn.QuantReLU()
        self.relu_out = qnn.QuantReLU(return_quant_tensor=True)

    def forward(self, x):
        y = self.relu1(self.bn1(self.conv1(x)))
        if len(self.downsample):
            x = self.downsample(x)
        return self.relu_out(self.relu2(self.bn2(self.conv2(y))) + x)


class TinyResNet(nn.Module):
    """Raw 0..255 pixels (1 channel, ``size`` x ``size``) -> /255 -> QuantIdentity -> stem conv
    -> BN -> QuantReLU -> one :class:`ResBlock` -> 2x2 max-pool (``pool``) -> QuantLinear."""

    def __init__(
        self,
        ch: int = 8,
        size: int = 16,
        classes: int = 10,
        pool: bool = True,
        shared: bool = True,
        downsample: bool = False,
    ):
        super().__init__()
        self.inp = qnn.QuantIdentity(return_quant_tensor=True)
        self.stem = qnn.QuantConv2d(1, ch, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(ch)
        self.relu = qnn.QuantReLU(return_quant_tensor=True)
        self.block = ResBlock(ch, self.relu if shared else None, downsample)
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()
        side = size // 2 if pool else size
        self.fc = qnn.QuantLinear(ch * side * side, classes, bias=True)

    def forward(self, x):
        x = self.block(self.relu(self.bn(self.stem(self.inp(x / 255.0)))))
        return self.fc(torch.flatten(self.pool(x), 1))
