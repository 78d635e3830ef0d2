"""The project's cache directory: ``$FEWERBITS_CACHE`` or ``~/.cache/fewerbits``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(name: str) -> Path:
    """``<cache>/<name>`` (not created)."""
    base = os.environ.get("FEWERBITS_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "fewerbits") / name
