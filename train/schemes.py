"""Quantization schemes as small declarative sets of Brevitas quantizers.

A :class:`Scheme` says which weight quantizer and which activation quantizer every layer of a
model uses, at which bit widths. Models ask the scheme for layer kwargs
(:meth:`Scheme.weight_kwargs`, :meth:`Scheme.act_layer`) instead of hard-coding quantizers, so
one topology serves every scheme. Override any quantizer field by keyword, Brevitas style.
"""

from __future__ import annotations

from dataclasses import dataclass

import brevitas.nn as qnn
import torch.nn as nn
from brevitas.core.restrict_val import RestrictValueType
from brevitas.core.scaling import ScalingImplType
from brevitas.quant import (
    Int8ActPerTensorFixedPoint,
    Int8WeightPerTensorFixedPoint,
    SignedBinaryActPerTensorConst,
    SignedBinaryWeightPerTensorConst,
    Uint8ActPerTensorFixedPoint,
    Uint8ActPerTensorFloat,
)
from brevitas.quant.fixed_point import Int8WeightPerChannelFixedPoint

from fewerbits.errors import FewerbitsError


class SchemeError(FewerbitsError):
    """A scheme name or bit width that cannot be built."""


# ---- quantizer parts -------------------------------------------------------------------------


class InputQuant(Uint8ActPerTensorFloat):
    """8-bit unsigned input quantizer with a constant scale of 1/255: images arrive as the
    integers 0..255 (divided by 255 inside the model), so the hardware input is UINT8."""

    scaling_impl_type = ScalingImplType.CONST
    scaling_const = 1.0
    max_val = 1.0
    restrict_scaling_type = RestrictValueType.FP
    bit_width = 8


# Scales are powers of two (fixed point): integer x 2^-k values multiply and add exactly in
# float32 in any order, so PyTorch, QONNX and FINN agree bit for bit on every accumulator
# (with float scales, summation order alone flipped activations at rounding boundaries).


class IntWeightQuant(Int8WeightPerTensorFixedPoint):
    """k-bit signed, narrow-range, per-tensor power-of-two scale (bit width set per scheme)."""


class IntWeightPerChannelQuant(Int8WeightPerChannelFixedPoint):
    """k-bit signed, narrow-range, one power-of-two scale per output channel."""


class ReluActQuant(Uint8ActPerTensorFixedPoint):
    """k-bit unsigned activation with a learned power-of-two scale (after ReLU)."""

    max_val = 6.0


class SignedActQuant(Int8ActPerTensorFixedPoint):
    """k-bit signed activation with a learned power-of-two scale (identity/hardtanh style)."""

    min_val = -1.0
    max_val = 1.0


class BinaryWeightQuant(SignedBinaryWeightPerTensorConst):
    """Weights in {-1, +1} (BinaryConnect / BinaryNet); Brevitas' default scale is 0.1, which
    is not a power of two and would break bit-exactness."""

    scaling_const = 1.0


class BinaryWeightPerChannelQuant(Int8WeightPerChannelFixedPoint):
    """XNOR-Net weights: sign(w) times one learned scale per output channel (alpha)."""

    bit_width = 1
    narrow_range = False
    signed = True


class BinaryActQuant(SignedBinaryActPerTensorConst):
    """Activations in {-1, +1} (BinaryNet / XNOR-Net), scale 1 (a power of two)."""

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
        if self.name in ("binaryconnect", "binarynet"):
            return {"weight_quant": BinaryWeightQuant}
        if self.name == "xnor":
            return {"weight_quant": BinaryWeightPerChannelQuant}
        return {"weight_quant": IntWeightQuant, "weight_bit_width": self.wbits}

    # -- activations
    def act_layer(self, channels: int | None = None) -> nn.Module:
        """The activation (with its quantizer) that follows a BatchNorm in the reference nets."""
        if self.name in ("float", "binaryconnect"):
            return nn.ReLU()
        if self.name in ("binarynet", "xnor") or self.abits == 1:
            return qnn.QuantIdentity(act_quant=BinaryActQuant, return_quant_tensor=False)
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


#: scheme name -> (fixed wbits or None, fixed abits or None, deployable, one-line description)
SCHEMES: dict[str, tuple[int | None, int | None, bool, str]] = {
    "float": (32, 32, False, "FP32 baseline of the same topology"),
    "binaryconnect": (1, 32, False, "binary weights, float activations"),
    "binarynet": (1, 1, True, "binary weights and activations"),
    "xnor": (1, 1, True, "binary weights with per-channel scale, binary activations"),
    "int": (None, None, True, "k-bit signed weights, k-bit unsigned activations (1-8)"),
}

NOT_DEPLOYABLE_HINT = (
    "float activations cannot be mapped to FINN hardware; use --scheme binarynet, xnor, "
    "dorefa or int"
)


def make_scheme(name: str, wbits: int | None = None, abits: int | None = None) -> Scheme:
    """Build a scheme by name, checking the bit widths it allows."""
    if name not in SCHEMES:
        raise SchemeError(f"unknown scheme {name!r}; choose one of {', '.join(SCHEMES)}")
    fixed_w, fixed_a, deployable, _ = SCHEMES[name]
    w = fixed_w if fixed_w is not None else wbits
    a = fixed_a if fixed_a is not None else abits
    if w is None or a is None:
        raise SchemeError(f"scheme {name!r} needs --wbits and --abits (1-8)")
    for what, bits in (("wbits", w), ("abits", a)):
        if fixed_w is None and not 1 <= bits <= 8:
            raise SchemeError(f"--{what} {bits} is out of range for scheme {name!r}: use 1-8")
    return Scheme(name=name, wbits=w, abits=a, deployable=deployable)
