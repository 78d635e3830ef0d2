"""The FINN build of the hardware stage, split by concern:

* :mod:`.steps` -- step names (constants), the plan (``--until``), the one step registry;
* :mod:`.custom_steps` -- this project's steps between FINN's;
* :mod:`.impl_style` -- the RTL-vs-HLS decision, in one place;
* :mod:`.finn_config` -- our BuildConfig as FINN's DataflowBuildConfig;
* :mod:`.runner` -- staging, resume, running steps, skip records;
* :mod:`.report` -- FINN's estimates, folding, implementations, BUILD/report.json;
* :mod:`.result` -- the typed :class:`BuildResult`.

Importing this package registers every custom step.
"""

from __future__ import annotations

from . import custom_steps, impl_style, quant_tags, recipes, residual_scales  # noqa: F401 - importing registers the steps
from .context import BuildContext
from .result import BuildResult, StepRecord
from .runner import (
    build,
    check_options,
    config_hash,
    finish_moved_build,
    relocate_builds,
    vivado_found,
)
from .steps import BuildError

__all__ = [
    "BuildContext",
    "BuildError",
    "BuildResult",
    "StepRecord",
    "build",
    "check_options",
    "config_hash",
    "finish_moved_build",
    "relocate_builds",
    "vivado_found",
]
