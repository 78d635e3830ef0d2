"""The project's cache directory: ``$FEWERBITS_CACHE`` or ``~/.cache/fewerbits``."""

from __future__ import annotations

import os
from pathlib import Path

#: where the yowasp tools keep their compiled WebAssembly modules (content-addressed by the
#: module's digest, so a shared folder can never be stale); default ``<cache>/yowasp``
WASM_CACHE_VAR = "FEWERBITS_WASM_CACHE"


def cache_dir(name: str) -> Path:
    """``<cache>/<name>`` (not created)."""
    base = os.environ.get("FEWERBITS_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "fewerbits") / name


def wasm_cache() -> Path:
    """The compiled-WebAssembly cache of the yowasp tools (Yosys, nextpnr)."""
    override = os.environ.get(WASM_CACHE_VAR)
    return Path(override) if override else cache_dir("yowasp")
