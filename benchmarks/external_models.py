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
from brevitas.quant import Int8WeightPerChannelFloat
from brevitas_examples.bnn_pynq.models import model_with_cfg
from fewerbits.export.exporter import random_inputs
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


def _calibrated(model: nn.Module, shape: tuple[int, ...], dtype: str = "UINT8") -> nn.Module:
    """A few forward passes in train mode so Brevitas' runtime statistics set the scales, on
    random inputs of the model's input datatype ``dtype`` (as the export check draws them)."""
    torch.manual_seed(0)
    model.train()
    with torch.no_grad():
        for i in range(8):
            model(torch.from_numpy(random_inputs(dtype, shape, 32, seed=100 + i)))
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


def vgg10_1d() -> nn.Module:
    """RadioML VGG10 style, small: three Conv1d (k3, padding 1) -> BN -> QuantReLU ->
    MaxPool1d(2) stages on 2 x 128 I/Q samples (INT8), then two linear layers; Brevitas'
    default quantizers."""
    torch.manual_seed(0)
    stages = []
    for c_in in (2, 16, 16):
        stages += [
            qnn.QuantConv1d(c_in, 16, 3, padding=1, bias=False),
            nn.BatchNorm1d(16),
            qnn.QuantReLU(),
            nn.MaxPool1d(2),
        ]
    model = nn.Sequential(
        qnn.QuantIdentity(),
        *stages,
        nn.Flatten(),
        qnn.QuantLinear(16 * 16, 32, bias=False),
        nn.BatchNorm1d(32),
        qnn.QuantReLU(),
        qnn.QuantLinear(32, 24, bias=True),
    )
    return _calibrated(model, (2, 128), "INT8")


class CybSecMLPForExport(nn.Module):
    """FINN's tutorial wrapper (end2end_example/cybersecurity): bipolar {-1, 1} inputs shifted
    to the {0, 1} the MLP was trained on, the output quantized to one bipolar bit."""

    def __init__(self, mlp: nn.Module):
        super().__init__()
        self.pretrained = mlp
        self.qnt_output = qnn.QuantIdentity(
            quant_type="binary", scaling_impl_type="const", bit_width=1, min_val=-1.0, max_val=1.0
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.qnt_output(self.pretrained((x + 1.0) / 2.0))


def cybsec_mlp(n_in: int = 600, n_used: int = 593, hidden: int = 64) -> nn.Module:
    """FINN's tutorial cybersecurity MLP (UNSW-NB15): 593 binarized features padded to 600
    BIPOLAR inputs (the padded weight columns zero, as the tutorial's export does), 64-64-64
    -> 1 with 2-bit weights and activations, BN and dropout; random weights, BN statistics
    calibrated."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for width in (n_in, hidden, hidden):
        layers += [
            qnn.QuantLinear(width, hidden, bias=True, weight_bit_width=2),
            nn.BatchNorm1d(hidden),
            nn.Dropout(0.5),
            qnn.QuantReLU(bit_width=2),
        ]
    mlp = nn.Sequential(*layers, qnn.QuantLinear(hidden, 1, bias=True, weight_bit_width=2))
    with torch.no_grad():
        mlp[0].weight[:, n_used:] = 0.0
    return _calibrated(CybSecMLPForExport(mlp), (n_in,), "BIPOLAR")


def cybsec_mlp_small() -> nn.Module:
    """:func:`cybsec_mlp` at 40 BIPOLAR inputs (36 used) and 16 hidden units (a CI test)."""
    return cybsec_mlp(40, 36, 16)


def _mlp(act: type, **act_kwargs) -> nn.Module:
    """784 -> 64 -> 32 -> 10 with Brevitas' default weight quantizers and activation ``act``."""
    torch.manual_seed(0)
    return nn.Sequential(
        Scale(),
        qnn.QuantIdentity(),
        nn.Flatten(),
        qnn.QuantLinear(784, 64, bias=True),
        nn.BatchNorm1d(64),
        act(**act_kwargs),
        qnn.QuantLinear(64, 32, bias=True),
        nn.BatchNorm1d(32),
        act(**act_kwargs),
        qnn.QuantLinear(32, 10, bias=True),
    )


def hardtanh_mlp() -> nn.Module:
    """``QuantHardTanh`` activations (Brevitas' default Int8ActPerTensorFloatMinMaxInit, signed
    8-bit in [-1, 1]) between default-quantized linear layers."""
    return _calibrated(_mlp(qnn.QuantHardTanh, min_val=-1.0, max_val=1.0), (1, 28, 28))


def linear_bias() -> nn.Module:
    """Linear layers with biases and no BatchNorm to absorb them (Brevitas' defaults)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        Scale(),
        qnn.QuantIdentity(),
        nn.Flatten(),
        qnn.QuantLinear(784, 32, bias=True),
        qnn.QuantReLU(),
        qnn.QuantLinear(32, 10, bias=True),
    )
    return _calibrated(model, (1, 28, 28))


def all_8bit() -> nn.Module:
    """8 bits everywhere, spelled out: 8-bit input quantizer, 8-bit weights, 8-bit ReLUs and
    an 8-bit signed output quantizer (the graph's output is an integer tensor times a scale)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        Scale(),
        qnn.QuantIdentity(bit_width=8),
        qnn.QuantConv2d(1, 8, 3, bias=False, weight_bit_width=8),
        nn.BatchNorm2d(8),
        qnn.QuantReLU(bit_width=8),
        nn.MaxPool2d(2),
        nn.Flatten(),
        qnn.QuantLinear(8 * 13 * 13, 10, bias=True, weight_bit_width=8),
        qnn.QuantIdentity(bit_width=8),
    )
    return _calibrated(model, (1, 28, 28))


def _conv_net(conv_kwargs: dict, size: int, features: int) -> nn.Module:
    """Two convs (``conv_kwargs``) -> BN -> QuantReLU, then a linear layer; default quantizers."""
    torch.manual_seed(0)
    model = nn.Sequential(
        Scale(),
        qnn.QuantIdentity(),
        qnn.QuantConv2d(1, 8, 3, bias=False, **conv_kwargs),
        nn.BatchNorm2d(8),
        qnn.QuantReLU(),
        qnn.QuantConv2d(8, 8, 3, bias=False, **conv_kwargs),
        nn.BatchNorm2d(8),
        qnn.QuantReLU(),
        nn.Flatten(),
        qnn.QuantLinear(
            features, 10, bias=True, **{k: v for k, v in conv_kwargs.items() if k == "weight_quant"}
        ),
    )
    return _calibrated(model, (1, size, size))


def int8_per_channel() -> nn.Module:
    """``Int8WeightPerChannelFloat`` weights (one float scale per output channel) everywhere."""
    return _conv_net({"weight_quant": Int8WeightPerChannelFloat}, 28, 8 * 24 * 24)


def conv_pad_stride() -> nn.Module:
    """Convs with padding 1 and stride 2 (28 -> 14 -> 7), Brevitas' defaults."""
    return _conv_net({"stride": 2, "padding": 1}, 28, 8 * 7 * 7)


def _act(channels: int, per_channel: bool) -> nn.Module:
    """A default QuantReLU, with one scale per channel where ``per_channel`` (as Brevitas'
    MobileNet-v1 ConvBlock writes it)."""
    return qnn.QuantReLU(
        per_channel_broadcastable_shape=(1, channels, 1, 1),
        scaling_stats_permute_dims=(1, 0, 2, 3),
        scaling_per_output_channel=per_channel,
    )


def dw_separable() -> nn.Module:
    """A small MobileNet-v1: a stride-2 stem conv, then two depthwise-separable blocks
    (``QuantConv2d(groups=C)`` 3x3 -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU) with
    per-channel activation scales where MobileNet-v1 has them (the stem's and every pointwise
    ReLU but the last stage's: the ones feeding a depthwise conv), default quantizers, 16 x 16
    RGB."""
    torch.manual_seed(0)
    layers: list[nn.Module] = [
        Scale(),
        qnn.QuantIdentity(),
        qnn.QuantConv2d(3, 8, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(8),
        _act(8, per_channel=True),
    ]
    for c_in, c_out, stride, last in ((8, 16, 1, False), (16, 16, 2, True)):
        layers += [
            qnn.QuantConv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False),
            nn.BatchNorm2d(c_in),
            _act(c_in, per_channel=False),
            qnn.QuantConv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
            _act(c_out, per_channel=not last),
        ]
    layers += [nn.Flatten(), qnn.QuantLinear(16 * 4 * 4, 10, bias=True)]
    return _calibrated(_randomize_bn(nn.Sequential(*layers)), (3, 16, 16))


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
    "vgg10_1d": ((2, 128), "RadioML VGG10 style: Conv1d (padding 1) + MaxPool1d, INT8 input"),
    "cybsec_mlp": ((600,), "FINN tutorial cybersecurity MLP: BIPOLAR input, 2-bit, bipolar out"),
    "hardtanh_mlp": ((1, 28, 28), "QuantHardTanh activations (signed 8-bit, default quantizer)"),
    "int8_per_channel": ((1, 28, 28), "Int8WeightPerChannelFloat weights, conv + linear"),
    "all_8bit": ((1, 28, 28), "8 bits everywhere incl. an 8-bit output quantizer"),
    "conv_pad_stride": ((1, 28, 28), "default quantizers, conv padding 1 stride 2"),
    "linear_bias": ((1, 28, 28), "default quantizers, linear bias without BN"),
    "dw_separable": ((3, 16, 16), "depthwise-separable convs, per-channel activation scales"),
}
#: factory name -> QONNX input datatype, where it is not the default (UINT8 pixels); the
#: export check, the calibration and the verification inputs follow it
INPUT_DTYPES: dict[str, str] = {"vgg10_1d": "INT8", "cybsec_mlp": "BIPOLAR"}
#: factory name -> board, where it is not the benchmark's default (Pynq-Z1)
BOARDS: dict[str, str] = {
    "mobilenet_v1_w4a4": "ZCU104",
    # 1,214 BRAM36 fully folded: more than a Pynq-Z1 (140) or a ZCU104 (312 + 96 URAM)
    "resnet18_4w4a": "U250",
}
#: factory name -> --fit cost model, where it is not the default (synth: Yosys-calibrated, xc7)
COST_MODELS: dict[str, str] = {
    "resnet18_4w4a": "finn",  # the synth model is calibrated on xc7 and refuses a U250
}
