"""FINN/QONNX datatypes by name, described with numpy only (no qonnx import on the board).

Supported: BIPOLAR, BINARY, TERNARY, INTn, UINTn (1..64 bits), FIXED<w,i>, FLOAT32, FLOAT16.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


class DataTypeError(ValueError):
    """An unknown or unsupported datatype name."""


@dataclass(frozen=True)
class DType:
    """A FINN datatype: its name, width and value set."""

    name: str
    bits: int
    kind: str  # "bipolar" | "ternary" | "int" | "uint" | "fixed" | "float"
    frac_bits: int = 0

    @property
    def signed(self) -> bool:
        return self.kind in ("bipolar", "ternary", "int", "fixed", "float")

    @property
    def is_integer(self) -> bool:
        return self.kind in ("bipolar", "ternary", "int", "uint")

    @property
    def scale(self) -> float:
        """Value of one least significant bit (fixed point), 1 otherwise."""
        return 2.0**-self.frac_bits

    def min(self) -> float:
        if self.kind == "bipolar" or self.kind == "ternary":
            return -1.0
        if self.kind == "uint":
            return 0.0
        if self.kind == "int":
            return float(-(2 ** (self.bits - 1)))
        if self.kind == "fixed":
            return float(-(2 ** (self.bits - 1))) * self.scale
        return float(np.finfo(self.np_float).min)

    def max(self) -> float:
        if self.kind == "bipolar" or self.kind == "ternary":
            return 1.0
        if self.kind == "uint":
            return float(2**self.bits - 1)
        if self.kind == "int":
            return float(2 ** (self.bits - 1) - 1)
        if self.kind == "fixed":
            return float(2 ** (self.bits - 1) - 1) * self.scale
        return float(np.finfo(self.np_float).max)

    @property
    def np_float(self):
        return np.float16 if self.bits == 16 else np.float32

    def allowed(self, x: np.ndarray) -> np.ndarray:
        """Elementwise: is each value representable in this datatype?"""
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "float":
            return np.isfinite(x)
        if self.kind == "bipolar":
            return (x == -1) | (x == 1)
        v = x / self.scale if self.kind == "fixed" else x
        lo = self.min() / self.scale if self.kind == "fixed" else self.min()
        hi = self.max() / self.scale if self.kind == "fixed" else self.max()
        return np.isfinite(v) & (v == np.round(v)) & (v >= lo) & (v <= hi)


_INT = re.compile(r"^(U?)INT(\d+)$")
_FIXED = re.compile(r"^FIXED<(\d+),(\d+)>$")


def parse(name: str) -> DType:
    """DType for a FINN datatype name such as ``UINT8``, ``BIPOLAR`` or ``FIXED<8,4>``."""
    name = str(name).strip()
    if name.startswith("DataType["):  # FINN's settings.json spelling: DataType['UINT8']
        name = name[len("DataType[") : -1].strip("'\"")
    name = name.replace(" ", "")
    if name == "BIPOLAR":
        return DType(name, 1, "bipolar")
    if name == "BINARY":
        return DType(name, 1, "uint")
    if name == "TERNARY":
        return DType(name, 2, "ternary")
    if name in ("FLOAT32", "FLOAT16"):
        return DType(name, int(name[5:]), "float")
    m = _INT.match(name)
    if m and 1 <= int(m.group(2)) <= 64:
        return DType(name, int(m.group(2)), "uint" if m.group(1) else "int")
    m = _FIXED.match(name)
    if m and 0 < int(m.group(2)) <= int(m.group(1)) <= 64:
        w, i = int(m.group(1)), int(m.group(2))
        return DType(name, w, "fixed", frac_bits=w - i)
    raise DataTypeError(
        f"datatype {name!r} is not supported by the driver "
        "(supported: BIPOLAR, BINARY, TERNARY, INTn, UINTn, FIXED<w,i>, FLOAT16, FLOAT32)"
    )
