"""The verification ladder (orchestration layer): every executor of the model compared with
the PyTorch reference, bit for bit.

* :mod:`.level` -- the :class:`Level` contract, :class:`ActivationTrace`, the level registry;
* :mod:`.levels` -- the levels, one module per kind of executor (importing registers them);
* :mod:`.ladder` -- running levels, the exactness rule, naming the first diverging node;
* :mod:`.directory` -- `fewerbits verify DIR`: inputs, the ladder, DIR/verify.json.
"""

from __future__ import annotations

from . import levels  # noqa: F401 - registers every level
from .directory import pytorch_reference, resolve_dirs, verify_directory
from .ladder import localize, locate_divergence, run_ladder, summary_line
from .level import (
    TRACE_REFERENCE,
    ActivationTrace,
    FunctionLevel,
    Level,
    SkippedLevel,
    VerifyInputError,
    as_level,
    level_names,
    make_levels,
    register_level,
)

__all__ = [
    "TRACE_REFERENCE",
    "ActivationTrace",
    "FunctionLevel",
    "Level",
    "SkippedLevel",
    "VerifyInputError",
    "as_level",
    "level_names",
    "locate_divergence",
    "localize",
    "make_levels",
    "pytorch_reference",
    "register_level",
    "resolve_dirs",
    "run_ladder",
    "summary_line",
    "verify_directory",
]
