"""Reading a user's ``.npy`` input: every way it can be wrong becomes one line naming the file."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from fewerbits.core.errors import FewerbitsError

NPY_MAGIC = b"\x93NUMPY"


class InputFileError(FewerbitsError):
    """An input array file that cannot be used (one line naming the file and the fix)."""


def load_npy(path: Path, option: str = "--input") -> np.ndarray:
    """The numeric array in ``path`` (a ``.npy`` file), with finite values only."""
    path = Path(path)
    if path.is_dir():
        raise InputFileError(f"{option} {path} is a folder; give a .npy file")
    if not path.is_file():
        raise InputFileError(f"{option} {path}: file not found")
    with open(path, "rb") as f:
        head = f.read(len(NPY_MAGIC))
    if not head:
        raise InputFileError(f"{option} {path} is empty (0 bytes); save the array with np.save")
    if zipfile.is_zipfile(path):
        raise InputFileError(
            f"{option} {path} is an .npz archive; give one array saved with np.save(X.npy, x)"
        )
    if head != NPY_MAGIC:
        raise InputFileError(
            f"{option} {path} is not a .npy file (text or other bytes); save the array with "
            "np.save(X.npy, x)"
        )
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        reason = "holds Python objects" if "pickle" in str(e) else "is truncated or corrupt"
        raise InputFileError(
            f"{option} {path} {reason}; save a numeric array with np.save(X.npy, x)"
        ) from None
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise InputFileError(f"{option} {path} holds {x.dtype} values; give a numeric array")
    if x.size == 0:
        raise InputFileError(f"{option} {path} holds no values (shape {x.shape})")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise InputFileError(f"{option} {path} contains NaN or infinite values")
    return x


def check_pixel_range(x: np.ndarray, path: Path, datatype: str | None) -> None:
    """Refuse inputs scaled to 0..1 for a model that takes raw 0..255 pixels (UINT8)."""
    if datatype != "UINT8":
        return
    if x.min() < 0 or x.max() > 255 or not np.array_equal(x, np.round(x)):
        scaled = x.min() >= 0 and x.max() <= 1
        hint = "they look scaled to 0..1; " if scaled else ""
        raise InputFileError(
            f"--input {path}: the model takes raw 0..255 integer pixel values (UINT8) and "
            f"{hint}the values lie in {x.min():g}..{x.max():g}; pass the unscaled pixels"
        )
