"""The driver's numpy packing == FINN's finn.util.data_packing (finn-plus 1.6.1), byte for byte,
over random datatypes, shapes and SIMD/PE foldings, with the flags FINN's PYNQ driver uses."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from fewerbits.hw.driver.datatypes import DataTypeError, parse
from fewerbits.hw.driver.packing import pack, packed_bytes, unpack

finn_dp = pytest.importorskip("finn.util.data_packing")
from qonnx.core.datatype import DataType  # noqa: E402
from qonnx.util.basic import gen_finn_dt_tensor  # noqa: E402

DTYPES = (
    ["BIPOLAR", "BINARY", "TERNARY"]
    + [f"INT{b}" for b in range(2, 9)]
    + [f"UINT{b}" for b in range(1, 9)]
    + ["INT12", "UINT16", "INT16", "INT24", "UINT32", "FLOAT32"]
    + ["FIXED<4,2>", "FIXED<6,3>", "FIXED<8,4>", "FIXED<12,5>", "FIXED<16,8>"]
)


def finn_unpack(packed, dt, shape):
    """FINN's unpacking. finn-plus 1.6.1's packed_bytearray_to_finnpy takes a fast path for
    8/16-bit types with both flags set that reinterprets the bytes as dt.to_numpy_dt() -
    float32 for FIXED<8,*>/FIXED<16,*>, so it crashes there ('cannot reshape array'); for those
    we compare with FINN's general path (prepare_values + data_prepared_to_finnpy_fixed)."""
    packed = np.ascontiguousarray(packed)
    if dt.is_fixed_point() and dt.bitwidth() in (8, 16):
        prep = finn_dp.prepare_values(packed, dt, shape, True, True)
        return finn_dp.data_prepared_to_finnpy_fixed(prep, dt)
    return finn_dp.packed_bytearray_to_finnpy(packed, dt, shape, True, True)


@pytest.mark.parametrize("name", DTYPES)
def test_pack_unpack_equal_finn(name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    np.random.seed(zlib.crc32(name.encode()))  # gen_finn_dt_tensor uses the global RNG
    dt = DataType[name]
    for _ in range(6):
        # a folded stream shape: (N, outer..., SIMD/PE) with random folding
        simd = int(rng.choice([1, 2, 3, 4, 5, 7, 8, 16, 17, 32]))
        outer = tuple(int(i) for i in rng.integers(1, 6, size=int(rng.integers(0, 3))))
        shape = (int(rng.integers(1, 5)), *outer, simd)
        x = gen_finn_dt_tensor(dt, shape)
        ref = finn_dp.finnpy_to_packed_bytearray(x, dt, reverse_inner=True, reverse_endian=True)
        got = pack(x, name)
        assert got.dtype == np.uint8 and got.shape == ref.shape == (
            *shape[:-1],
            packed_bytes(simd, name),
        )
        np.testing.assert_array_equal(got, ref)
        if dt.is_integer() and name != "BIPOLAR":  # integer containers take a shortcut
            np.testing.assert_array_equal(pack(x.astype(np.int64), name), ref)
        # also without the flags (FINN's default), so the bit order is pinned both ways
        ref0 = finn_dp.finnpy_to_packed_bytearray(x, dt)
        np.testing.assert_array_equal(pack(x, name, False, False), ref0)
        np.testing.assert_array_equal(unpack(ref0, name, shape, False, False), x.astype(np.float32))
        back = unpack(got, name, shape)
        np.testing.assert_array_equal(back, finn_unpack(ref, dt, shape))
        np.testing.assert_array_equal(back, x.astype(np.float32))


def test_finn_fast_path_still_breaks_fixed8():
    """Documents the upstream behaviour finn_unpack works around; if FINN fixes it, this fails
    and finn_unpack's special case can go."""
    dt = DataType["FIXED<8,4>"]
    x = np.random.default_rng(0).integers(-128, 128, (2, 3, 4)) * dt.scale_factor()
    x = x.astype(np.float32)
    assert all(dt.allowed(v) for v in x.flat)
    p = np.ascontiguousarray(finn_dp.finnpy_to_packed_bytearray(x, dt, True, True))
    with pytest.raises(ValueError):
        finn_dp.packed_bytearray_to_finnpy(p, dt, (2, 3, 4), True, True)


def test_known_bytes():
    # value 0 in the least significant bits, little-endian bytes (reverse_inner/endian)
    np.testing.assert_array_equal(pack(np.array([[1, 2, 3]]), "UINT4"), [[0x21, 0x03]])
    np.testing.assert_array_equal(pack(np.array([[-1, 1, 1]]), "BIPOLAR"), [[0b110]])


def test_unknown_datatype_one_line():
    with pytest.raises(DataTypeError, match="FLOAT8.*not supported"):
        parse("FLOAT8")
    assert parse("DataType['UINT8']").bits == 8
    assert parse("FIXED<8,4>").scale == 2**-4
