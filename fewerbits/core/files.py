"""Atomic file writes and content hashes shared by every stage."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fewerbits.core.errors import NO_SPACE


def write_atomic(path: Path, write: Callable[[Path], None], suffix: str = "") -> None:
    """``write(tmp)`` then rename ``tmp`` to ``path``: a reader sees the old file or the whole
    new one, and a failed write (a full disk, Ctrl-C) leaves no temp file and none of the
    folders it created. ``suffix`` ends the temp name (``.npy`` for numpy, which appends it
    otherwise). A write that ran out of room raises OSError(ENOSPC/EFBIG/EDQUOT) naming
    ``path``, also for numpy's short writes, which carry no errno."""
    path = Path(path)
    created = [p for p in reversed(path.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
    try:
        write(tmp)
        tmp.replace(path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(e, OSError) and e.errno in NO_SPACE:
            raise OSError(e.errno, e.strerror, str(path)) from e
        if (
            isinstance(e, OSError)
            and e.errno is None
            and re.search(r"requested and \d+ written", str(e))
        ):
            raise OSError(errno.ENOSPC, f"short write: {e}", str(path)) from e
        raise


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (:func:`write_atomic`): no half-written artifacts."""
    text = json.dumps(data, indent=2, default=_json_default) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text))


def read_json(path: Path) -> Any:
    """The parsed JSON file at ``path``."""
    return json.loads(Path(path).read_text())


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_json(data: Any, length: int = 16) -> str:
    """A short stable hash of JSON-serialisable data (keys sorted)."""
    text = json.dumps(data, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
