"""Bit packing of FINN tensors into DMA byte buffers, with numpy only.

Same bytes as ``finn.util.data_packing.finnpy_to_packed_bytearray`` and
``packed_bytearray_to_finnpy`` (finn-plus 1.6.1), which FINN's PYNQ driver calls with
``reverse_inner=True, reverse_endian=True``: the innermost (folded, SIMD/PE) dimension of each
word is packed with value 0 in the least significant bits, the word is zero-padded to whole
bytes, and the bytes are little-endian. ``tests/test_driver_packing.py`` proves the equality
against FINN's own functions.
"""

from __future__ import annotations

import numpy as np

from .datatypes import DType, parse


def packed_bytes(n_values: int, dt: DType | str) -> int:
    """Bytes of one packed word of ``n_values`` values."""
    dt = parse(dt) if isinstance(dt, str) else dt
    return (n_values * dt.bits + 7) // 8


def to_bit_patterns(x: np.ndarray, dt: DType) -> np.ndarray:
    """Values -> their ``dt.bits``-wide unsigned bit patterns (uint64)."""
    x = np.asarray(x)
    if dt.kind == "float":
        f = x.astype(dt.np_float)
        return f.view(np.uint16 if dt.bits == 16 else np.uint32).astype(np.uint64)
    if dt.kind in ("int", "uint") and x.dtype.kind in "iu":
        ints = x.astype(np.int64)  # integer containers: no float round trip
    else:
        v = x.astype(np.float64)
        if dt.kind == "bipolar":
            v = (v + 1) / 2
        elif dt.kind == "fixed":
            v = v / dt.scale
        ints = np.round(v).astype(np.int64)
    mask = np.uint64((1 << dt.bits) - 1) if dt.bits < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
    return ints.astype(np.uint64) & mask


def from_bit_patterns(p: np.ndarray, dt: DType) -> np.ndarray:
    """Unsigned bit patterns -> float32 values (float16 for FLOAT16), as FINN returns them."""
    p = np.asarray(p, dtype=np.uint64)
    if dt.kind == "float":
        if dt.bits == 16:
            return p.astype(np.uint16).view(np.float16).astype(np.float32)
        return p.astype(np.uint32).view(np.float32)
    if dt.kind == "bipolar":
        return (p.astype(np.int64) * 2 - 1).astype(np.float32)
    if dt.kind == "uint":
        return p.astype(np.float32)
    # two's complement (int, ternary, fixed)
    sign = np.uint64(1 << (dt.bits - 1))
    v = p.astype(np.int64) - np.where(p & sign, np.int64(1) << np.int64(dt.bits), 0)
    if dt.kind == "fixed":
        return (v.astype(np.float64) * dt.scale).astype(np.float32)
    return v.astype(np.float32)


def _container(bits: int):
    """Smallest unsigned numpy type holding ``bits`` bits."""
    return (
        np.uint8
        if bits <= 8
        else np.uint16
        if bits <= 16
        else np.uint32
        if bits <= 32
        else np.uint64
    )


def _byte_aligned(dt: DType, reverse_inner: bool, reverse_endian: bool) -> str | None:
    """numpy dtype string for the fast path: whole-byte values whose bytes are just the values'
    little-endian (both flags) or big-endian (no flags) representation, in value order."""
    if dt.bits in (8, 16, 32, 64) and reverse_inner == reverse_endian:
        return f"{'<' if reverse_endian else '>'}u{dt.bits // 8}"
    return None


def pack(x: np.ndarray, dt: DType | str, reverse_inner: bool = True, reverse_endian: bool = True):
    """Pack the innermost dimension of ``x`` into bytes (shape ``x.shape[:-1] + (bytes,)``)."""
    dt = parse(dt) if isinstance(dt, str) else dt
    x = np.asarray(x)
    n = x.shape[-1]
    pat = to_bit_patterns(x, dt)
    fast = _byte_aligned(dt, reverse_inner, reverse_endian)
    if fast:
        return np.ascontiguousarray(pat.astype(fast)).view(np.uint8).reshape(*x.shape[:-1], -1)
    pat = pat.astype(_container(dt.bits))
    if reverse_inner:
        pat = pat[..., ::-1]
    shifts = np.arange(dt.bits - 1, -1, -1, dtype=pat.dtype)  # MSB first within a value
    bits = ((pat[..., None] >> shifts) & pat.dtype.type(1)).astype(np.uint8)
    bits = bits.reshape(*x.shape[:-1], n * dt.bits)
    pad = packed_bytes(n, dt) * 8 - n * dt.bits
    if pad:
        bits = np.concatenate([np.zeros((*bits.shape[:-1], pad), np.uint8), bits], axis=-1)
    out = np.packbits(bits, axis=-1)
    if reverse_endian:
        out = out[..., ::-1]
    return np.ascontiguousarray(out)


def unpack(
    packed: np.ndarray,
    dt: DType | str,
    shape: tuple[int, ...],
    reverse_inner: bool = True,
    reverse_endian: bool = True,
) -> np.ndarray:
    """Inverse of :func:`pack`: bytes -> float32 values of the given (folded) ``shape``."""
    dt = parse(dt) if isinstance(dt, str) else dt
    packed = np.asarray(packed)
    if packed.dtype != np.uint8:
        raise TypeError(f"packed buffer must be uint8, got {packed.dtype}")
    n = shape[-1]
    if packed.shape[-1] != packed_bytes(n, dt):
        raise ValueError(
            f"packed word has {packed.shape[-1]} bytes, {n} x {dt.name} needs {packed_bytes(n, dt)}"
        )
    fast = _byte_aligned(dt, reverse_inner, reverse_endian)
    if fast:
        pat = np.ascontiguousarray(packed).view(fast).astype(np.uint64)
        return from_bit_patterns(pat, dt).reshape(shape)
    if reverse_endian:
        packed = packed[..., ::-1]
    bits = np.unpackbits(packed, axis=-1)[..., -n * dt.bits :]
    bits = bits.reshape(*packed.shape[:-1], n, dt.bits).astype(np.uint64)
    shifts = np.arange(dt.bits - 1, -1, -1, dtype=np.uint64)
    pat = np.bitwise_or.reduce(bits << shifts, axis=-1)
    if reverse_inner:
        pat = pat[..., ::-1]
    return from_bit_patterns(pat, dt).reshape(shape)
