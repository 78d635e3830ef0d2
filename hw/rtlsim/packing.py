"""AXI-stream words of the simulated accelerator, packed by the driver's packing.

A word holds the innermost (folded) dimension: element 0 in the least significant bits, each
element ``dtype.bitwidth()`` bits in two's complement (BIPOLAR: -1 -> 0, +1 -> 1), zero-padded
to whole bytes, bytes little-endian -- exactly
``finn.util.data_packing.finnpy_to_packed_bytearray(x, dt, reverse_inner=True,
reverse_endian=True)``. The bit work is :mod:`fewerbits.hw.driver.packing` (numpy only, so the
deployment package can carry it); this module only adapts qonnx DataTypes and word widths
(tested against FINN in tests/test_rtlsim_nodes.py and tests/test_driver_packing.py).
"""

from __future__ import annotations

import numpy as np

from ..driver import packing as driver_packing
from ..driver.datatypes import parse


def pack(x: np.ndarray, dtype, nbytes: int) -> np.ndarray:
    """(..., E) integer-valued array of qonnx DataType ``dtype`` -> (prod(...), nbytes) uint8
    words (zero bytes above the packed elements when the stream is wider)."""
    dt = parse(dtype.name)
    a = np.asarray(x)
    e = a.shape[-1]
    used = driver_packing.packed_bytes(e, dt)
    if used > nbytes:
        raise ValueError(f"{e} elements of {dt.bits} bits do not fit {nbytes} bytes")
    words = driver_packing.pack(a.reshape(-1, e), dt)
    if used < nbytes:
        words = np.pad(words, ((0, 0), (0, nbytes - used)))
    return words


def unpack(words: np.ndarray, dtype, elems: int) -> np.ndarray:
    """(M, nbytes) uint8 words -> (M, elems) float32 values of qonnx DataType ``dtype``."""
    dt = parse(dtype.name)
    w = np.asarray(words, dtype=np.uint8)
    used = np.ascontiguousarray(w[:, : driver_packing.packed_bytes(elems, dt)])
    return driver_packing.unpack(used, dt, (w.shape[0], elems))
