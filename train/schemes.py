"""Quantization schemes as small declarative sets of Brevitas quantizers.

A :class:`Scheme` says which weight quantizer and which activation quantizer every layer of a
model uses, at which bit widths. Models ask the scheme for layer kwargs
(:meth:`Scheme.weight_kwargs`, :meth:`Scheme.act_layer`) instead of hard-coding quantizers, so
one topology serves every scheme. Override any quantizer field by keyword, Brevitas style.

Every scale of a deployable scheme is a power of two (fixed point): integer x 2^-k values
multiply and add exactly in float32 in any order, so PyTorch, QONNX and FINN agree bit for bit
on every accumulator (with float scales, summation order alone flipped activations at rounding
boundaries).
"""

from __future__ import annotations

from dataclasses import dataclass

import brevitas.nn as qnn
import torch
import torch.nn as nn
from brevitas.core.function_wrapper import RoundSte
from brevitas.core.restrict_val import RestrictValueType
from brevitas.core.scaling import ScalingImplType
from brevitas.core.stats import StatsOp
from brevitas.core.zero_point import ZeroZeroPoint
from brevitas.inject import value
from brevitas.inject.enum import QuantType, ScalingPerOutputType
from brevitas.proxy import WeightQuantProxyFromInjector
from brevitas.quant import (
    Int8ActPerTensorFixedPoint,
    Int8WeightPerTensorFixedPoint,
    SignedBinaryActPerTensorConst,
    SignedBinaryWeightPerTensorConst,
    Uint8ActPerTensorFixedPoint,
    Uint8ActPerTensorFloat,
)
from brevitas.quant.base import MaxStatsScaling
from brevitas.quant.fixed_point import Int8WeightPerChannelFixedPoint
from brevitas.quant.solver import WeightQuantSolver

from fewerbits.core.errors import UsageError


class SchemeError(UsageError):
    """A scheme name or bit width that cannot be built."""


# ---- quantizer parts -------------------------------------------------------------------------


class InputQuant(Uint8ActPerTensorFloat):
    """8-bit unsigned input quantizer with the constant power-of-two scale 1/256 (the threshold
    255/256 over 255 levels): images arrive as the integers 0..255 (divided by 256 inside the
    model), so the hardware input is UINT8. A scale of 1/255 is not a power of two: the first
    layer's float32 products k/255 * w are then inexact and PyTorch's own result depends on the
    summation order, which no hardware can reproduce bit for bit."""

    scaling_impl_type = ScalingImplType.CONST
    scaling_const = 255.0 / 256.0
    max_val = 255.0 / 256.0
    restrict_scaling_type = RestrictValueType.FP
    bit_width = 8


class IntWeightQuant(Int8WeightPerTensorFixedPoint):
    """k-bit signed, narrow-range, per-tensor power-of-two scale from max|w| (k >= 4)."""


class IntLowBitWeightQuant(Int8WeightPerChannelFixedPoint):
    """2-3 bit signed, narrow-range, one power-of-two scale per output channel from the
    channel's mean|w| (rounded).

    A per-tensor max-based scale leaves most low-bit weights at zero. Measured on
    Fashion-MNIST TFC w2a2: 2 epochs, per-tensor max 0.823 vs mean 0.849; 3 epochs,
    per-tensor mean 0.846 vs per-channel mean 0.863."""

    scaling_stats_op = StatsOp.AVE
    restrict_value_float_to_int_impl = RoundSte


class ReluActQuant(Uint8ActPerTensorFixedPoint):
    """k-bit unsigned activation with a learned power-of-two scale (after ReLU)."""

    max_val = 6.0


class SignedActQuant(Int8ActPerTensorFixedPoint):
    """k-bit signed activation with a learned power-of-two scale (identity/hardtanh style)."""

    min_val = -1.0
    max_val = 1.0


class BinaryWeightQuant(SignedBinaryWeightPerTensorConst):
    """Weights in {-1, +1} (BinaryConnect / BinaryNet); latent weights clipped to [-1, 1]."""

    scaling_const = 1.0


class XnorWeightQuant(MaxStatsScaling, WeightQuantSolver):
    """XNOR-Net weights: sign(w) * alpha, one alpha per output channel.

    alpha is XNOR-Net's mean |w| of the channel, rounded to the nearest power of two (so the
    per-channel scale folds exactly into FINN's thresholds)."""

    quant_type = QuantType.BINARY
    bit_width = 1
    signed = True
    narrow_range = True
    zero_point_impl = ZeroZeroPoint
    scaling_stats_op = StatsOp.AVE
    scaling_per_output_type = ScalingPerOutputType.CHANNEL
    restrict_scaling_type = RestrictValueType.POWER_OF_TWO
    restrict_value_float_to_int_impl = RoundSte


class TanhNormalisedWeightProxy(WeightQuantProxyFromInjector):
    """Weight proxy that feeds the quantizer DoReFa's tanh-normalised weight
    ``tanh(w) / max|tanh(w)| * normalised_max`` instead of ``w``.

    The normalisation is a differentiable function of the parameter alone, so at export it is
    constant-folded into the weight initializer: the graph holds a plain Quant node."""

    def forward(self, x: torch.Tensor):
        t = torch.tanh(x)
        t = t / t.abs().max().clamp_min(1e-12)
        return super().forward(t * self.quant_injector.normalised_max)


def _register_export_handler() -> None:
    """Brevitas picks a proxy's export handler by exact class, so the QONNX managers get a
    handler for :class:`TanhNormalisedWeightProxy` (the stock weight handler: it receives the
    normalised weight from the proxy's forward and emits a plain Quant node)."""
    from brevitas.export.onnx.qonnx.handler import BrevitasWeightQuantProxyHandler
    from brevitas.export.onnx.qonnx.manager import QONNXManager

    class TanhNormalisedWeightProxyHandler(BrevitasWeightQuantProxyHandler):
        handled_layer = TanhNormalisedWeightProxy

    if not any(h.handled_layer is TanhNormalisedWeightProxy for h in QONNXManager.handlers):
        QONNXManager.handlers = [*QONNXManager.handlers, TanhNormalisedWeightProxyHandler]


_register_export_handler()


class DorefaWeightQuant(Int8WeightPerTensorFixedPoint):
    """DoReFa-Net k-bit weights (k >= 2): q = round(M * tanh(w) / max|tanh(w)|), M = 2^(k-1)-1,
    times the constant scale 2^-(k-1). DoReFa's grid has 2^k levels and no zero; this one is
    the signed narrow-range integer grid (2^k - 1 levels, zero included) with a power-of-two
    scale, which FINN maps to plain integer weights."""

    proxy_class = TanhNormalisedWeightProxy
    scaling_impl_type = ScalingImplType.CONST
    restrict_scaling_type = RestrictValueType.FP

    @value
    def normalised_max(bit_width):
        return (2 ** (int(bit_width) - 1) - 1) * 2.0 ** -(int(bit_width) - 1)

    @value
    def scaling_const(bit_width):
        # ConstScaling divides by the integer threshold M: scale = M * 2^-(k-1) / M, exact
        return (2 ** (int(bit_width) - 1) - 1) * 2.0 ** -(int(bit_width) - 1)


class DorefaActQuant(Uint8ActPerTensorFloat):
    """DoReFa-Net k-bit activations: clip(x, 0, ~1) on a uniform grid with the constant scale
    2^-k (DoReFa uses 1/(2^k - 1); the power of two keeps hardware bit-exact)."""

    scaling_impl_type = ScalingImplType.CONST
    restrict_scaling_type = RestrictValueType.FP

    @value
    def scaling_const(bit_width):
        # unsigned k-bit: scale = scaling_const / (2^k - 1) = 2^-k
        return (2 ** int(bit_width) - 1) * 2.0 ** -int(bit_width)

    @value
    def max_val(bit_width):
        return (2 ** int(bit_width) - 1) * 2.0 ** -int(bit_width)


class BinaryActQuant(SignedBinaryActPerTensorConst):
    """Activations in {-1, +1} (BinaryNet / XNOR-Net; any scheme's 1-bit activations)."""

    scaling_const = 1.0


# ---- schemes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scheme:
    """One quantization scheme at given weight/activation bit widths."""

    name: str
    wbits: int
    abits: int
    deployable: bool = True

    # -- weights
    def weight_kwargs(self) -> dict:
        """Keyword arguments for QuantLinear/QuantConv2d."""
        if self.name == "float":
            return {"weight_quant": None}
        if self.name == "xnor":
            return {"weight_quant": XnorWeightQuant}
        if self.name in ("binaryconnect", "binarynet") or self.wbits == 1:
            return {"weight_quant": BinaryWeightQuant}
        if self.name == "dorefa":
            return {"weight_quant": DorefaWeightQuant, "weight_bit_width": self.wbits}
        quant = IntLowBitWeightQuant if self.wbits <= 3 else IntWeightQuant
        return {"weight_quant": quant, "weight_bit_width": self.wbits}

    # -- activations
    def act_layer(self, channels: int | None = None) -> nn.Module:
        """The activation (with its quantizer) that follows a BatchNorm in the reference nets."""
        if self.name in ("float", "binaryconnect"):
            return nn.ReLU()
        if self.name in ("binarynet", "xnor") or self.abits == 1:
            return qnn.QuantIdentity(act_quant=BinaryActQuant, return_quant_tensor=False)
        if self.name == "dorefa":
            return qnn.QuantReLU(
                act_quant=DorefaActQuant, bit_width=self.abits, return_quant_tensor=False
            )
        return qnn.QuantReLU(
            act_quant=ReluActQuant, bit_width=self.abits, return_quant_tensor=False
        )

    def input_layer(self) -> nn.Module:
        """The 8-bit input quantizer (identity for the float baseline)."""
        if self.name == "float":
            return nn.Identity()
        return qnn.QuantIdentity(act_quant=InputQuant, return_quant_tensor=False)

    @property
    def label(self) -> str:
        return self.name if self.name == "float" else f"{self.name}-w{self.wbits}a{self.abits}"

    def weight_levels(self) -> int:
        """The most distinct values one output channel's quantized weights may take."""
        if self.name == "float":
            return 2**32
        if self.wbits == 1 or self.name in ("binaryconnect", "binarynet", "xnor"):
            return 2
        return 2**self.wbits - 1  # signed narrow range


#: scheme name -> (fixed wbits or None, fixed abits or None, deployable, one-line description)
SCHEMES: dict[str, tuple[int | None, int | None, bool, str]] = {
    "float": (32, 32, False, "FP32 baseline of the same topology"),
    "binaryconnect": (1, 32, False, "binary weights, float activations"),
    "binarynet": (1, 1, True, "binary weights and activations"),
    "xnor": (1, 1, True, "binary weights with per-channel power-of-two scale, binary activations"),
    "dorefa": (None, None, True, "k-bit tanh-normalised weights, k-bit clipped activations (1-8)"),
    "int": (None, None, True, "k-bit signed weights, k-bit unsigned activations (1-8)"),
}

NOT_DEPLOYABLE_HINT = (
    "float activations cannot be mapped to FINN hardware; use --scheme binarynet, xnor, "
    "dorefa or int"
)


def make_scheme(name: str, wbits: int | None = None, abits: int | None = None) -> Scheme:
    """Build a scheme by name, checking the bit widths it allows."""
    if name not in SCHEMES:
        raise SchemeError(f"--scheme {name!r} is unknown; choose one of {', '.join(SCHEMES)}")
    fixed_w, fixed_a, deployable, _ = SCHEMES[name]
    for what, bits, fixed in (("wbits", wbits, fixed_w), ("abits", abits, fixed_a)):
        if bits is not None and bits != fixed and not 1 <= bits <= 8:
            raise SchemeError(f"--{what} {bits} is out of range: use 1-8 (--scheme {name})")
    w = fixed_w if fixed_w is not None else wbits
    a = fixed_a if fixed_a is not None else abits
    if w is None or a is None:
        raise SchemeError(f"--scheme {name} needs --wbits and --abits (1-8)")
    return Scheme(name=name, wbits=w, abits=a, deployable=deployable)
