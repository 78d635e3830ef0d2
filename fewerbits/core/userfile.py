"""Loading a named object from a user's Python file (``path/to/file.py:name``).

Used for model factories (``--model file.py:make``) and extra build steps
(``--extra-steps file.py:steps``). The file's folder goes on ``sys.path`` (and stays there) so
the file may import its sibling modules, at import time or later inside its functions.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from fewerbits.core.errors import FewerbitsError


class UserFileError(FewerbitsError):
    """A ``file.py:name`` that cannot be loaded (one line naming the option and the file)."""


def load_object(spec: str, option: str, expected: str = "file.py:name") -> object:
    """The object ``name`` defined by ``file.py`` in ``spec``; errors name ``option``."""
    path_str, sep, name = spec.rpartition(":")
    if not sep or not path_str.endswith(".py") or not name:
        raise UserFileError(f"{option} {spec!r}: expected {expected}")
    path = Path(path_str)
    if not path.is_file():
        raise UserFileError(f"{option} {spec!r}: file {path} not found")
    mod_spec = importlib.util.spec_from_file_location(f"fewerbits_user_{path.stem}", path)
    assert mod_spec and mod_spec.loader
    module = importlib.util.module_from_spec(mod_spec)
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - any error in user code becomes one line
        raise UserFileError(
            f"{option} {spec!r}: importing {path} failed: {type(e).__name__}: {e}"
        ) from e
    if not hasattr(module, name):
        raise UserFileError(f"{option} {spec!r}: {path} defines no {name!r}")
    return getattr(module, name)
