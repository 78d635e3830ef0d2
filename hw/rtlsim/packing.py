"""AXI-stream word packing, vectorised, identical to FINN's driver packing.

A word holds the innermost (folded) dimension: element 0 in the least significant bits, each
element ``dtype.bitwidth()`` bits in two's complement (BIPOLAR: -1 -> 0, +1 -> 1), zero-padded
to whole bytes, bytes little-endian -- exactly
``finn.util.data_packing.finnpy_to_packed_bytearray(x, dt, reverse_inner=True,
reverse_endian=True)`` (tested in tests/test_rtlsim_nodes.py), but fast enough for many frames.
"""

from __future__ import annotations

import numpy as np


def pack(x: np.ndarray, dtype, nbytes: int) -> np.ndarray:
    """(..., E) integer-valued array -> (prod(...), nbytes) uint8 words."""
    b = dtype.bitwidth()
    a = np.asarray(x)
    if dtype.name == "BIPOLAR":
        a = (a + 1) / 2
    e = a.shape[-1]
    if e * b > nbytes * 8:
        raise ValueError(f"{e} elements of {b} bits do not fit {nbytes} bytes")
    ai = np.rint(a).astype(np.int64).reshape(-1, e) & ((1 << b) - 1)
    bits = ((ai[:, :, None] >> np.arange(b, dtype=np.int64)) & 1).astype(np.uint8)
    bits = bits.reshape(ai.shape[0], e * b)
    pad = np.zeros((ai.shape[0], nbytes * 8 - e * b), dtype=np.uint8)
    return np.packbits(np.concatenate([bits, pad], axis=1), axis=1, bitorder="little")


def unpack(words: np.ndarray, dtype, elems: int) -> np.ndarray:
    """(M, nbytes) uint8 words -> (M, elems) float32 values of ``dtype``."""
    b = dtype.bitwidth()
    bits = np.unpackbits(np.asarray(words, dtype=np.uint8), axis=1, bitorder="little")
    bits = bits[:, : elems * b].reshape(-1, elems, b).astype(np.int64)
    v = (bits << np.arange(b, dtype=np.int64)).sum(axis=2)
    if dtype.name == "BIPOLAR":
        return (2 * v - 1).astype(np.float32)
    if dtype.signed():
        v = np.where(v >= (1 << (b - 1)), v - (1 << b), v)
    return v.astype(np.float32)
