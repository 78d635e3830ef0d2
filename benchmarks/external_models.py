"""Models nobody here wrote, as factories for `fewerbits export file.py:factory`.

* Brevitas' own BNN-PYNQ zoo from the installed ``brevitas_examples`` (random weights and
  random BatchNorm statistics, since no pretrained weights can be downloaded here), fed raw
  0..255 pixels through a ``/255`` as Brevitas' training scripts do (ToTensor);
* small models written the way Brevitas' documentation writes them: default quantizers
  (``Int8WeightPerTensorFloat``, ``Int8ActPerTensorFloat``, ``Uint8ActPerTensorFloat``), i.e.
  float scales, briefly calibrated on random inputs.

Used by benchmarks/models.py.
"""

from __future__ import annotations

import brevitas.nn as qnn
import torch
import torch.nn as nn
from brevitas_examples.bnn_pynq.models import model_with_cfg
from fewerbits.train.resnet import TinyResNet


class Scale(nn.Module):
    """Raw 0..255 pixels in, x / 255 as ToTensor does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / 255.0


def _randomize_bn(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model


def bnn_pynq(name: str) -> nn.Module:
    """Brevitas' BNN-PYNQ model ``name`` (e.g. TFC_1W1A, CNV_2W2A) with random parameters."""
    torch.manual_seed(0)
    model, _ = model_with_cfg(name, pretrained=False)
    return nn.Sequential(Scale(), _randomize_bn(model)).eval()


def _calibrated(model: nn.Module, shape: tuple[int, ...]) -> nn.Module:
    """A few forward passes in train mode so Brevitas' runtime statistics set the scales."""
    torch.manual_seed(0)
    model.train()
    with torch.no_grad():
        for _ in range(8):
            model(torch.rand(32, *shape) * 255)
    return model.eval()


def default_mlp() -> nn.Module:
    """An MLP with Brevitas' default quantizers (float scales)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        Scale(),
        qnn.QuantIdentity(),
        nn.Flatten(),
        qnn.QuantLinear(784, 64, bias=True),
        nn.BatchNorm1d(64),
        qnn.QuantReLU(),
        qnn.QuantLinear(64, 10, bias=True),
    )
    return _calibrated(model, (1, 28, 28))


def default_cnn() -> nn.Module:
    """A small CNN with Brevitas' default quantizers (float scales)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        Scale(),
        qnn.QuantIdentity(),
        qnn.QuantConv2d(1, 8, 3, bias=False),
        nn.BatchNorm2d(8),
        qnn.QuantReLU(),
        nn.MaxPool2d(2),
        qnn.QuantConv2d(8, 8, 3, bias=False),
        nn.BatchNorm2d(8),
        qnn.QuantReLU(),
        nn.Flatten(),
        qnn.QuantLinear(8 * 11 * 11, 10, bias=True),
    )
    return _calibrated(model, (1, 28, 28))


def _pool_cnn(
    pool: nn.Module, features: int, size: int = 12, quant_relu_tensor: bool = True
) -> nn.Module:
    """conv (Brevitas default quantizers) -> BN -> QuantReLU -> ``pool`` -> linear."""
    torch.manual_seed(0)
    model = nn.Sequential(
        Scale(),
        qnn.QuantIdentity(),
        qnn.QuantConv2d(1, 6, 3, bias=False),
        nn.BatchNorm2d(6),
        qnn.QuantReLU(return_quant_tensor=quant_relu_tensor),
        pool,
        nn.Flatten(),
        qnn.QuantLinear(features, 4, bias=True),
    )
    return _calibrated(model, (1, size, size))


def default_gap() -> nn.Module:
    """Global average pooling as most users write it: ``nn.AdaptiveAvgPool2d(1)`` on the
    quantized ReLU, re-quantized before the classifier."""
    return _pool_cnn(nn.Sequential(nn.AdaptiveAvgPool2d(1), qnn.QuantIdentity()), 6)


def default_gap_linear() -> nn.Module:
    """``nn.AdaptiveAvgPool2d(1)`` straight into a default ``QuantLinear`` (float mean in)."""
    return _pool_cnn(nn.AdaptiveAvgPool2d(1), 6, quant_relu_tensor=False)


def trunc_gap_round() -> nn.Module:
    """Brevitas' ``TruncAdaptiveAvgPool2d`` (global), ROUND (its default)."""
    return _pool_cnn(qnn.TruncAdaptiveAvgPool2d(output_size=1), 6)


def trunc_avgpool_floor() -> nn.Module:
    """Brevitas' ``TruncAvgPool2d(2, 2)`` with FLOOR (FINN's QuantAvgPool)."""
    return _pool_cnn(qnn.TruncAvgPool2d(2, 2, float_to_int_impl_type="FLOOR"), 6 * 25)


def trunc_avgpool_round() -> nn.Module:
    """Brevitas' ``TruncAvgPool2d(2, 2)``, ROUND (its default, half to even): a window sum
    and exact integer thresholds."""
    return _pool_cnn(qnn.TruncAvgPool2d(2, 2), 6 * 25)


def trunc_avgpool_round_ties() -> nn.Module:
    """``QuantIdentity`` (default ``Int8ActPerTensorFloat``, signed) straight into
    ``TruncAvgPool2d(2, 2)`` (ROUND) -> linear: inputs on the quantizer's grid give every
    window sum, the half-way ties of both parities included."""
    torch.manual_seed(0)
    model = nn.Sequential(
        qnn.QuantIdentity(return_quant_tensor=True),
        qnn.TruncAvgPool2d(2, 2),
        nn.Flatten(),
        qnn.QuantLinear(2 * 6 * 6, 4, bias=True),
    )
    return _calibrated(model, (2, 12, 12))


def tfc_1w1a() -> nn.Module:
    return bnn_pynq("TFC_1W1A")


def tfc_1w2a() -> nn.Module:
    return bnn_pynq("TFC_1W2A")


def tfc_2w2a() -> nn.Module:
    return bnn_pynq("TFC_2W2A")


def sfc_1w1a() -> nn.Module:
    return bnn_pynq("SFC_1W1A")


def lfc_1w1a() -> nn.Module:
    return bnn_pynq("LFC_1W1A")


def cnv_1w1a() -> nn.Module:
    return bnn_pynq("CNV_1W1A")


def cnv_2w2a() -> nn.Module:
    return bnn_pynq("CNV_2W2A")


def resnet18_4w4a() -> nn.Module:
    """Brevitas' bnn_pynq ResNet-18 (CIFAR-10, 4-bit weights/activations, shared quantizers on
    every residual add, TruncAvgPool at the end), random parameters."""
    return bnn_pynq("RESNET18_4W4A")


def default_resblock() -> nn.Module:
    """One ResNet basic block with Brevitas' default quantizers on 16x16 inputs."""
    torch.manual_seed(0)
    return _calibrated(_randomize_bn(TinyResNet()), (1, 16, 16))


def default_resblock_2scales() -> nn.Module:
    """The same block without the shared quantizer: the residual branch has its own default
    QuantReLU, so two float scales meet in the add (built as an exact integer weighted sum)."""
    torch.manual_seed(0)
    return _calibrated(_randomize_bn(TinyResNet(shared=False)), (1, 16, 16))


def mobilenet_v1_w4a4(size: int = 64) -> nn.Module:
    """Brevitas' MobileNet-v1 w4a4 (imagenet_classification ``quant_mobilenet_v1_4b``) at a
    reduced ``size`` x ``size`` input (downsampled 32x, so the final average pool covers
    ``size/32`` squared pixels instead of ImageNet's 7x7), random weights and BN statistics,
    activation scales calibrated on random pixels."""
    from brevitas.nn import TruncAvgPool2d
    from brevitas_examples.imagenet_classification.models import model_with_cfg as imagenet_cfg

    torch.manual_seed(0)
    model, _ = imagenet_cfg("quant_mobilenet_v1_4b", pretrained=None)
    model.final_pool = TruncAvgPool2d(
        kernel_size=size // 32, stride=1, bit_width=4, float_to_int_impl_type="FLOOR"
    )
    return _calibrated(nn.Sequential(Scale(), _randomize_bn(model)), (3, size, size))


#: factory name -> (input shape, what it exercises)
MODELS: dict[str, tuple[tuple[int, ...], str]] = {
    "tfc_1w1a": ((1, 28, 28), "Brevitas zoo, XNOR-popcount MLP, x.view() input"),
    "tfc_1w2a": ((1, 28, 28), "Brevitas zoo, binary weights, 2-bit activations"),
    "tfc_2w2a": ((1, 28, 28), "Brevitas zoo, 2-bit MLP"),
    "sfc_1w1a": ((1, 28, 28), "Brevitas zoo, wider XNOR MLP"),
    "lfc_1w1a": ((1, 28, 28), "Brevitas zoo, 1024-wide XNOR MLP"),
    "cnv_1w1a": ((3, 32, 32), "Brevitas zoo, XNOR CNN with max-pooling"),
    "cnv_2w2a": ((3, 32, 32), "Brevitas zoo, 2-bit CNN with max-pooling"),
    "default_mlp": ((1, 28, 28), "Brevitas default quantizers (float scales), bias, BN"),
    "default_cnn": ((1, 28, 28), "Brevitas default quantizers (float scales), conv + max-pool"),
    "default_resblock": (
        (1, 16, 16),
        "Brevitas default quantizers, one residual block (shared quantizer)",
    ),
    "default_resblock_2scales": (
        (1, 16, 16),
        "residual add, two quantizers (float scales)",
    ),
    "resnet18_4w4a": ((3, 32, 32), "Brevitas zoo ResNet-18 4w4a: residual adds, TruncAvgPool"),
    "mobilenet_v1_w4a4": ((3, 64, 64), "Brevitas MobileNet-v1 w4a4 at 64x64, depthwise convs"),
    "default_gap": ((1, 12, 12), "default quantizers, nn.AdaptiveAvgPool2d(1) + QuantIdentity"),
    "default_gap_linear": ((1, 12, 12), "default quantizers, AdaptiveAvgPool2d(1) -> QuantLinear"),
    "trunc_gap_round": ((1, 12, 12), "default quantizers, TruncAdaptiveAvgPool2d (ROUND)"),
    "trunc_avgpool_floor": ((1, 12, 12), "default quantizers, TruncAvgPool2d(2) FLOOR"),
    "trunc_avgpool_round": (
        (1, 12, 12),
        "default quantizers, TruncAvgPool2d(2) ROUND (half to even)",
    ),
}
#: factory name -> board, where it is not the benchmark's default (Pynq-Z1)
BOARDS: dict[str, str] = {
    "mobilenet_v1_w4a4": "ZCU104",
    # 1,214 BRAM36 fully folded: more than a Pynq-Z1 (140) or a ZCU104 (312 + 96 URAM)
    "resnet18_4w4a": "U250",
}
