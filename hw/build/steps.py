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

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fewerbits.core.errors import FewerbitsError, UsageError
from fewerbits.core.userfile import load_object

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper


class BuildError(FewerbitsError):
    """A build that cannot proceed (bad model, bad option); the message is one line."""


class BuildOptionError(BuildError, UsageError):
    """A build option out of range or an impossible combination (exit 2)."""


# ---- step names (the only place they are spelled) ---------------------------------------------

TAG_QUANTIZERS = "step_fewerbits_tag_quantizers"  # hw/build/quant_tags.py
TRUNC_AVG_POOL = "step_fewerbits_trunc_avg_pool"  # hw/build/recipes.py
RECORD_ROUNDING = "step_fewerbits_record_rounding"  # compat/finn/thresholds.py
CONV1D_AS_2D = "step_fewerbits_conv1d_as_2d"  # hw/build/recipes.py
RESIDUAL_CHECK = "step_fewerbits_residual_check"  # hw/build/recipes.py
RESIDUAL = "step_fewerbits_residual"  # hw/build/recipes.py
RESIDUAL_SCALES = "step_fewerbits_residual_scales"  # hw/build/residual_scales.py
DEPTHWISE_SCALES = "step_fewerbits_depthwise_scales"  # hw/build/recipes.py
QONNX_TO_FINN = "step_qonnx_to_finn"
CARRY_QUANTIZER_TAGS = "step_fewerbits_carry_quantizer_tags"  # hw/build/quant_tags.py
FIX_FLOAT_TIES = "step_fewerbits_fix_float_ties"  # compat/finn/thresholds.py
TIDY_UP = "step_tidy_up"
FLOAT64_PARAMS = "step_fewerbits_float64_params"  # compat/finn/thresholds.py
STREAMLINE = "step_streamline"
GLOBAL_ACC_POOL = "step_fewerbits_global_acc_pool"  # hw/build/recipes.py
FIX_THRESHOLDS = "step_fewerbits_fix_thresholds"  # compat/finn/thresholds.py
BIPOLAR_INPUT = "step_fewerbits_bipolar_input"  # hw/build/impl_style.py
CONVERT_TO_HW = "step_convert_to_hw"
CHECK_HW = "step_fewerbits_check_hw"
HOST_RESHAPES = "step_fewerbits_host_reshapes"
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
SIZE_FIFOS = "step_fewerbits_size_fifos"  # hw/rtlsim/fifo_step.py (--size-fifos)
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
BOARD_BITSTREAM = "step_fewerbits_board_bitstream"  # hw/board/step.py (Yosys + nextpnr)

#: steps that run on any Linux box (through HLS/RTL code generation), in order
SOFTWARE_STEPS = [
    TAG_QUANTIZERS,
    TRUNC_AVG_POOL,
    RECORD_ROUNDING,
    RESIDUAL_CHECK,
    QONNX_TO_FINN,
    CARRY_QUANTIZER_TAGS,
    FIX_FLOAT_TIES,
    CONV1D_AS_2D,
    TIDY_UP,
    DEPTHWISE_SCALES,
    FLOAT64_PARAMS,
    STREAMLINE,
    RESIDUAL_SCALES,
    RESIDUAL,
    GLOBAL_ACC_POOL,
    FIX_THRESHOLDS,
    BIPOLAR_INPUT,
    CONVERT_TO_HW,
    CHECK_HW,
    HOST_RESHAPES,
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
    SIZE_FIFOS,
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

#: steps for an open-FPGA board (ULX3S, iCEBreaker): the board top's bitstream with the open
#: tools, after code generation, where a FINN board has its Vivado steps
OPEN_BOARD_STEPS = [BOARD_BITSTREAM]

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
        raise BuildOptionError(f"--until {until!r}: choose one of auto, {', '.join(UNTIL)}")
    return until


@dataclass(frozen=True)
class ExtraStep:
    """A user's step (``--extra-steps file.py:name``) and where it goes in the plan."""

    position: str  # "before" | "after"
    anchor: str  # a step of the plan
    step: Step


def load_extra_steps(spec: str) -> list[ExtraStep]:
    """``file.py:name`` where ``name`` is a list of ``(position, step name, fn)``; each
    ``fn(model, cfg) -> model`` runs as the step ``fn.__name__``. Refused in one line."""
    items = load_object(spec, "--extra-steps")
    known = set(SOFTWARE_STEPS + VIVADO_STEPS)
    out: list[ExtraStep] = []
    try:
        for position, anchor, fn in items:  # type: ignore[union-attr]
            name = getattr(fn, "__name__", "")
            if position not in ("before", "after"):
                raise BuildError(f"--extra-steps {spec}: position {position!r}: use before/after")
            if anchor not in known:
                raise BuildError(f"--extra-steps {spec}: no step {anchor!r} in the plan")
            if not callable(fn) or not name.startswith("step_") or name in known:
                raise BuildError(
                    f"--extra-steps {spec}: {name or fn!r} must be a function named step_* "
                    "that is not one of the plan's steps"
                )
            out.append(ExtraStep(position, anchor, Step(name, fn)))
    except (TypeError, ValueError):
        raise BuildError(
            f'--extra-steps {spec}: expected a list of ("before"|"after", step name, function)'
        ) from None
    names = [e.step.name for e in out]
    if len(set(names)) != len(names):
        raise BuildError(f"--extra-steps {spec}: step names must be unique, got {names}")
    return out


def with_extra_steps(steps: list[str], extra: list[ExtraStep]) -> list[str]:
    """``steps`` with each extra step inserted before or after its anchor."""
    out = list(steps)
    for e in extra:
        if e.anchor in out:
            i = out.index(e.anchor)
            out.insert(i if e.position == "before" else i + 1, e.step.name)
    return out


def plan_steps(
    until: str,
    vivado: bool,
    command: str = "",
    extra: list[ExtraStep] | None = None,
    open_board: bool = False,
) -> tuple[list[str], list[dict]]:
    """Steps to run and steps to skip (with the reason and command) for ``--until`` here;
    ``extra`` steps are placed next to their anchors. ``open_board``: the build is for a board
    FINN cannot target whose bitstream the open tools build (:data:`OPEN_BOARD_STEPS`, run
    for ``--until bitstream``, the default there)."""
    until = resolve_until(until, vivado or open_board)
    all_steps = SOFTWARE_STEPS + VIVADO_STEPS
    wanted = all_steps[: all_steps.index(UNTIL[until]) + 1]
    run = with_extra_steps([s for s in wanted if s in SOFTWARE_STEPS or vivado], extra or [])
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
    for s in OPEN_BOARD_STEPS:
        if open_board and until == "bitstream":
            run.append(s)
            continue
        reason = (
            f"not requested (--until {until})"
            if open_board
            else "for open-FPGA boards only (ULX3S, iCEBreaker); this board's bitstream is "
            f"{SYNTHESIZE_BITFILE} (Vivado)"
        )
        skipped.append({"step": s, "reason": reason, "command": command if open_board else ""})
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
    table, key = (
        (_STEPS, step.name)
        if step.impl_style is None
        else (
            _STYLE_STEPS,
            (step.name, step.impl_style),
        )
    )
    if key in table and table[key].fn is not step.fn:
        raise ValueError(f"step {step.name} registered twice")
    table[key] = step


#: steps registered by a module of a later part of hw (it imports this package): imported by
#: name on first lookup, so that this package never imports it
STEP_MODULES = {
    BOARD_BITSTREAM: "fewerbits.hw.board.step",
    SIZE_FIFOS: "fewerbits.hw.rtlsim.fifo_step",
}


def get_step(name: str, impl_style: str) -> Step:
    """The step to run for ``name`` in a build of ``impl_style`` (ours first, then FINN's)."""
    if name in STEP_MODULES and name not in _STEPS:
        importlib.import_module(STEP_MODULES[name])  # registers the step
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
    return sorted({*_STEPS, *STEP_MODULES, *(name for name, _ in _STYLE_STEPS)})
