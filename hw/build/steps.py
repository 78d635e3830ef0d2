"""The step catalogue: every step's name (constants), the plan, and the one step registry.

A step is ``fn(model, cfg) -> model`` like FINN's own builder steps (``cfg`` is FINN's
``DataflowBuildConfig``). A step that also needs the build's context (our options, the output
folder, the part) is registered with ``uses_context=True`` and is called as
``fn(model, cfg, ctx)``: the binding is declared, never guessed from the signature.

Lookup order for a name (:func:`get_step`): a step registered for the build's implementation
style (``replaces`` a FINN step, see :mod:`.impl_style`), then our own steps, then FINN's
``build_dataflow_step_lookup``. Other modules refer to steps only through the constants here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fewerbits.core.errors import FewerbitsError

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper


class BuildError(FewerbitsError):
    """A build that cannot proceed (bad model, bad option); the message is one line."""


# ---- step names (the only place they are spelled) ---------------------------------------------

RECORD_ROUNDING = "step_fewerbits_record_rounding"  # compat/finn/thresholds.py
QONNX_TO_FINN = "step_qonnx_to_finn"
FIX_FLOAT_TIES = "step_fewerbits_fix_float_ties"  # compat/finn/thresholds.py
TIDY_UP = "step_tidy_up"
STREAMLINE = "step_streamline"
FIX_THRESHOLDS = "step_fewerbits_fix_thresholds"  # compat/finn/thresholds.py
CONVERT_TO_HW = "step_convert_to_hw"
CHECK_HW = "step_fewerbits_check_hw"
DROP_IDENTITY_THRESHOLDS = "step_fewerbits_drop_identity_thresholds"
MINIMIZE_BIT_WIDTH_INITIAL = "step_minimize_bit_width_initial"
CREATE_DATAFLOW_PARTITION = "step_create_dataflow_partition"
PREFER_RTL = "step_fewerbits_prefer_rtl"
SPECIALIZE_LAYERS = "step_specialize_layers"
TARGET_FPS_PARALLELIZATION = "step_target_fps_parallelization"
FOLDING = "step_fewerbits_folding"
APPLY_FOLDING_CONFIG = "step_apply_folding_config"
MINIMIZE_BIT_WIDTH = "step_minimize_bit_width"
GENERATE_ESTIMATE_REPORTS = "step_generate_estimate_reports"
HW_CODEGEN = "step_hw_codegen"
VIVADO_SCRIPTS = "step_fewerbits_vivado_scripts"

HW_IPGEN = "step_hw_ipgen"
SET_FIFO_DEPTHS = "step_set_fifo_depths"
CREATE_STITCHED_IP = "step_create_stitched_ip"
MEASURE_RTLSIM_PERFORMANCE = "step_measure_rtlsim_performance"
OUT_OF_CONTEXT_SYNTHESIS = "step_out_of_context_synthesis"
PREPARE_SYNTHESIS = "step_prepare_synthesis"
SYNTHESIZE_BITFILE = "step_synthesize_bitfile"
MAKE_DRIVER = "step_make_driver"
DEPLOYMENT_PACKAGE = "step_deployment_package"

#: steps that run on any Linux box (through HLS/RTL code generation), in order
SOFTWARE_STEPS = [
    RECORD_ROUNDING,
    QONNX_TO_FINN,
    FIX_FLOAT_TIES,
    TIDY_UP,
    STREAMLINE,
    FIX_THRESHOLDS,
    CONVERT_TO_HW,
    CHECK_HW,
    DROP_IDENTITY_THRESHOLDS,
    MINIMIZE_BIT_WIDTH_INITIAL,
    CREATE_DATAFLOW_PARTITION,
    PREFER_RTL,
    SPECIALIZE_LAYERS,
    TARGET_FPS_PARALLELIZATION,
    FOLDING,
    APPLY_FOLDING_CONFIG,
    MINIMIZE_BIT_WIDTH,
    GENERATE_ESTIMATE_REPORTS,
    HW_CODEGEN,
    VIVADO_SCRIPTS,
]

#: FINN steps that need Vitis HLS / Vivado, in order
VIVADO_STEPS = [
    HW_IPGEN,
    SET_FIFO_DEPTHS,
    CREATE_STITCHED_IP,
    MEASURE_RTLSIM_PERFORMANCE,
    OUT_OF_CONTEXT_SYNTHESIS,
    PREPARE_SYNTHESIS,
    SYNTHESIZE_BITFILE,
    MAKE_DRIVER,
    DEPLOYMENT_PACKAGE,
]

#: --until name -> last step to run
UNTIL = {
    "estimates": GENERATE_ESTIMATE_REPORTS,
    "codegen": VIVADO_SCRIPTS,
    "ip": CREATE_STITCHED_IP,
    "bitstream": DEPLOYMENT_PACKAGE,
}

NO_VIVADO = "needs Vivado/Vitis HLS, not found on this machine (XILINX_VIVADO/XILINX_HLS unset)"


def resolve_until(until: str, vivado: bool) -> str:
    """``auto`` -> as far as this machine's tools allow."""
    if until == "auto":
        return "bitstream" if vivado else "codegen"
    if until not in UNTIL:
        raise BuildError(f"--until {until!r}: choose one of auto, {', '.join(UNTIL)}")
    return until


def plan_steps(until: str, vivado: bool, command: str = "") -> tuple[list[str], list[dict]]:
    """Steps to run and steps to skip (with the reason and command) for ``--until`` here."""
    until = resolve_until(until, vivado)
    all_steps = SOFTWARE_STEPS + VIVADO_STEPS
    wanted = all_steps[: all_steps.index(UNTIL[until]) + 1]
    run = [s for s in wanted if s in SOFTWARE_STEPS or vivado]
    skipped = [
        {
            "step": s,
            "reason": NO_VIVADO
            if s in VIVADO_STEPS and not vivado
            else f"not requested (--until {until})",
            "command": command,
        }
        for s in all_steps
        if s not in run
    ]
    return run, skipped


# ---- the registry -------------------------------------------------------------------------------

StepFn = Callable[..., "ModelWrapper"]


@dataclass(frozen=True)
class Step:
    """A named build step and how to call it."""

    name: str
    fn: StepFn
    uses_context: bool = False  # called as fn(model, cfg, ctx)
    impl_style: str | None = None  # only for builds of this implementation style (replaces FINN's)

    def __call__(self, model: ModelWrapper, cfg: Any, ctx: Any) -> ModelWrapper:
        return self.fn(model, cfg, ctx) if self.uses_context else self.fn(model, cfg)


_STEPS: dict[str, Step] = {}
_STYLE_STEPS: dict[tuple[str, str], Step] = {}


def register_step(
    name: str, *, uses_context: bool = False, impl_style: str | None = None
) -> Callable[[StepFn], StepFn]:
    """Decorator: register ``fn`` as step ``name`` (for one implementation style if given, in
    which case it replaces FINN's step of that name for such builds)."""

    def deco(fn: StepFn) -> StepFn:
        add_step(Step(name, fn, uses_context, impl_style))
        return fn

    return deco


def add_step(step: Step) -> None:
    """Register a step object (a name registered twice is a programming error)."""
    table, key = (_STEPS, step.name) if step.impl_style is None else (
        _STYLE_STEPS,
        (step.name, step.impl_style),
    )
    if key in table and table[key].fn is not step.fn:
        raise ValueError(f"step {step.name} registered twice")
    table[key] = step


def get_step(name: str, impl_style: str) -> Step:
    """The step to run for ``name`` in a build of ``impl_style`` (ours first, then FINN's)."""
    step = _STYLE_STEPS.get((name, impl_style)) or _STEPS.get(name)
    if step is not None:
        return step
    # lazy: importing FINN's builder takes seconds (and needs finn_env.prepare_finn first)
    from finn.builder.build_dataflow_steps import build_dataflow_step_lookup

    if name not in build_dataflow_step_lookup:
        known = ", ".join(sorted({*_STEPS, *build_dataflow_step_lookup}))
        raise BuildError(f"step {name!r} unknown; steps are: {known}")
    return Step(name, build_dataflow_step_lookup[name])


def custom_step_names() -> list[str]:
    """Names of the steps this project registered (not FINN's)."""
    return sorted({*_STEPS, *(name for name, _ in _STYLE_STEPS)})
