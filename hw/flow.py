"""The FINN build: a DataflowBuildConfig, FINN's own step functions, and our fix steps.

The step list is FINN's (``finn.builder.build_dataflow_config``), run one step at a time by
:func:`build` so that progress is shown, every intermediate model is saved as
``DIR/intermediate_models/<step>.onnx``, and the steps that need Vivado/Vitis HLS are recorded as
skipped (with the reason and the command to run them) instead of crashing the flow.

Our own steps (``step_fewerbits_*``, listed in :data:`CUSTOM_STEPS`) sit between FINN's: they
prefer RTL layer implementations, name the node a model fails to convert at, and choose or check
the folding. A custom step is ``fn(model, cfg)`` or ``fn(model, cfg, ctx)`` (:class:`BuildContext`).

The build happens in a hidden sibling folder that is renamed to ``DIR`` only when it succeeded
(no half-written output); ``DIR/build_state.json`` holds the config hash and the completed steps
for ``--resume``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from fewerbits.compat.finn import env as finn_env
from fewerbits.compat.finn import thresholds as finn_thresholds
from fewerbits.core.config import BuildConfig
from fewerbits.core.errors import FewerbitsError
from fewerbits.core.files import write_json

from .boards import Board, get_board, resolve_part

BUILD_CONFIG_JSON = "build_config.json"
STEPS_JSON = "steps.json"
STATE_JSON = "build_state.json"
INTERMEDIATE = "intermediate_models"
FOLDING_JSON = "folding.json"

#: FINN steps (and ours) that run on any Linux box (through HLS/RTL code generation).
SOFTWARE_STEPS = [
    "step_fewerbits_record_rounding",  # fewerbits/compat/finn/thresholds.py
    "step_qonnx_to_finn",
    "step_fewerbits_fix_float_ties",  # fewerbits/compat/finn/thresholds.py
    "step_tidy_up",
    "step_streamline",
    "step_fewerbits_fix_thresholds",  # fewerbits/compat/finn/thresholds.py
    "step_convert_to_hw",
    "step_fewerbits_check_hw",
    "step_fewerbits_drop_identity_thresholds",
    "step_minimize_bit_width_initial",
    "step_create_dataflow_partition",
    "step_fewerbits_prefer_rtl",
    "step_specialize_layers",
    "step_target_fps_parallelization",
    "step_fewerbits_folding",
    "step_apply_folding_config",
    "step_minimize_bit_width",
    "step_generate_estimate_reports",
    "step_hw_codegen",
    "step_fewerbits_vivado_scripts",
]

#: FINN steps that need Vitis HLS / Vivado, in order.
VIVADO_STEPS = [
    "step_hw_ipgen",
    "step_set_fifo_depths",
    "step_create_stitched_ip",
    "step_measure_rtlsim_performance",
    "step_out_of_context_synthesis",
    "step_prepare_synthesis",
    "step_synthesize_bitfile",
    "step_make_driver",
    "step_deployment_package",
]

#: --until name -> last step to run
UNTIL = {
    "estimates": "step_generate_estimate_reports",
    "codegen": "step_fewerbits_vivado_scripts",
    "ip": "step_create_stitched_ip",
    "bitstream": "step_deployment_package",
}

#: default FPS target when neither --target-fps, --fit nor --folding is given
DEFAULT_TARGET_FPS = 100_000


class BuildError(FewerbitsError):
    """A build that cannot proceed (bad model, bad option); the message is one line."""


@dataclass
class StepRecord:
    """What happened to the steps of one build."""

    ran: list[dict] = field(default_factory=list)  # {step, seconds}
    skipped: list[dict] = field(default_factory=list)  # {step, reason, command}
    reused: list[str] = field(default_factory=list)  # completed by an earlier run (--resume)


@dataclass
class BuildContext:
    """What our custom steps need besides FINN's config."""

    build: BuildConfig
    out_dir: Path
    part: str
    board: Board | None
    info: dict = field(default_factory=dict)  # facts for the report (impl styles, fit result)


def vivado_found() -> bool:
    """True when both Vivado and Vitis HLS are on this machine."""
    return finn_env.vivado_available() and finn_env.vitis_hls_available()


def dataflow_config(build: BuildConfig, out_dir: Path, part: str | None = None):
    """FINN's DataflowBuildConfig for our BuildConfig (not yet including the step list)."""
    import finn.builder.build_dataflow_config as bc

    board = get_board(build.board)
    outputs = [bc.DataflowOutputType.ESTIMATE_REPORTS]
    if build.until in ("ip", "bitstream", "auto"):
        outputs.append(bc.DataflowOutputType.STITCHED_IP)
    if build.until in ("bitstream", "auto"):
        outputs += [
            bc.DataflowOutputType.BITFILE,
            bc.DataflowOutputType.PYNQ_DRIVER,
            bc.DataflowOutputType.DEPLOYMENT_PACKAGE,
        ]
    target = build.target_fps
    if target is None and build.fit is None and build.folding is None:
        target = DEFAULT_TARGET_FPS
    cfg = bc.DataflowBuildConfig(
        output_dir=str(out_dir),
        synth_clk_period_ns=float(build.clock_ns),
        board=board.name,
        fpga_part=part or build.part or board.part,
        shell_flow_type=bc.ShellFlowType(board.shell_flow),
        generate_outputs=outputs,
        target_fps=target,
        # impl_style "rtl": standalone Thresholding layers, so the MVAU can be MVAU_rtl (FINN's
        # RTL MVU does not embed thresholds) and the thresholds become Thresholding_rtl
        standalone_thresholds=build.impl_style == "rtl",
        save_intermediate_models=False,
        verbose=False,
    )
    if build.fit is not None or build.folding is not None:
        cfg.folding_config_file = Path(out_dir) / FOLDING_JSON
    return cfg


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
    last = all_steps.index(UNTIL[until])
    wanted = all_steps[: last + 1]
    run = [s for s in wanted if s in SOFTWARE_STEPS or vivado]
    no_tools = "needs Vivado/Vitis HLS, not found on this machine (XILINX_VIVADO/XILINX_HLS unset)"
    skipped = [
        {
            "step": s,
            "reason": no_tools
            if s in VIVADO_STEPS and not vivado
            else f"not requested (--until {until})",
            "command": command,
        }
        for s in all_steps
        if s not in run
    ]
    return run, skipped


# ---- custom steps ------------------------------------------------------------------------------


def _is_hw(node) -> bool:
    return node.domain.startswith("finn.custom_op.fpgadataflow")


def _likely_cause(model, node) -> str:
    from qonnx.core.datatype import DataType

    float_in = [t for t in node.input if t and model.get_tensor_datatype(t) == DataType["FLOAT32"]]
    float_in = [t for t in float_in if model.get_initializer(t) is None]
    if node.op_type in ("Relu", "Sigmoid", "Tanh", "Elu", "LeakyRelu", "Softmax", "HardSigmoid"):
        return "float activation function (use a quantized activation such as QuantReLU)"
    if float_in and node.op_type in ("MatMul", "Gemm", "Conv", "ConvTranspose"):
        return f"float activations (input {float_in[0]} is FLOAT32; quantize the activation feeding it)"
    if float_in:
        return f"float input {float_in[0]} that streamlining could not absorb (a float scale/bias or unquantized activation)"
    return f"op {node.op_type} is not supported by FINN's convert_to_hw"


def step_fewerbits_check_hw(model, cfg):
    """Name the first node FINN could not convert to hardware (inside the graph), and why."""
    hw = [n for n in model.graph.node if _is_hw(n)]
    if not hw:
        node = model.graph.node[0] if len(model.graph.node) else None
        where = f"node {node.name} ({node.op_type}): " if node is not None else ""
        cause = _likely_cause(model, node) if node is not None else "empty graph"
        raise BuildError(
            f"FINN cannot convert this model to hardware: no layer was converted; {where}{cause}"
        )
    hw_names = {n.name for n in hw}

    def reach(start, nxt) -> set[str]:
        seen, todo = set(), list(start)
        while todo:
            n = todo.pop()
            for m in nxt(n) or []:
                if m is not None and m.name not in seen:
                    seen.add(m.name)
                    todo.append(m)
        return seen

    for node in model.graph.node:
        if _is_hw(node):
            continue
        up = reach([node], lambda n: [model.find_producer(t) for t in n.input])
        down = reach([node], lambda n: [c for t in n.output for c in model.find_consumers(t)])
        if up & hw_names and down & hw_names:
            raise BuildError(
                f"FINN cannot convert node {node.name} (op {node.op_type}) to hardware: "
                f"likely cause: {_likely_cause(model, node)}"
            )
    return model


def identity_threshold_nodes(model) -> list:
    """Thresholding nodes that map every integer of their input datatype to itself (e.g. the
    8-bit input quantizer of a net fed 0..255 pixels): checked exhaustively over the range."""
    import numpy as np
    from qonnx.custom_op.registry import getCustomOp

    found = []
    for node in model.get_nodes_by_op_type("Thresholding"):
        inst = getCustomOp(node)
        idt, odt = inst.get_input_datatype(0), inst.get_output_datatype()
        thr = model.get_initializer(node.input[1])
        if thr is None or not idt.is_integer() or idt != odt or idt.max() - idt.min() > 1 << 16:
            continue
        x = np.arange(idt.min(), idt.max() + 1, dtype=np.float64)
        out = (x[None, :, None] >= thr[:, None, :]).sum(-1) + inst.get_nodeattr("ActVal")
        if np.array_equal(out, np.broadcast_to(x, out.shape)):
            found.append(node)
    return found


def step_fewerbits_drop_identity_thresholds(model, cfg):
    """Remove Thresholding layers that are the identity on their integer input (bit-exact by
    an exhaustive check). FINN keeps them, and with one threshold channel they cannot be
    parallelised (PE must divide NumChannels=1): the input quantizer of TFC alone would cap it
    at 784 cycles/frame."""
    outputs = {o.name for o in model.graph.output}
    for node in identity_threshold_nodes(model):
        src, dst = node.input[0], node.output[0]
        if dst in outputs:
            continue  # keep the graph's output tensor
        for other in model.graph.node:
            for k, t in enumerate(other.input):
                if t == dst:
                    other.input[k] = src
        model.graph.node.remove(node)
    return model


def step_fewerbits_prefer_rtl(model, cfg, ctx: BuildContext):
    """Ask for the RTL implementation of every layer that has one (FINN falls back to HLS, with
    a warning, where its RTL variant cannot implement the layer: e.g. MVAU in XNOR mode)."""
    from finn.custom_op.fpgadataflow.rtl import custom_op as rtl_variants
    from qonnx.custom_op.registry import getCustomOp

    if ctx.build.impl_style != "rtl":
        return model  # "auto": FINN's own choice
    for node in model.graph.node:
        if _is_hw(node) and node.op_type + "_rtl" in rtl_variants:
            inst = getCustomOp(node)
            if inst.get_nodeattr("preferred_impl_style") == "":
                inst.set_nodeattr("preferred_impl_style", "rtl")
    return model


def step_fewerbits_folding(model, cfg, ctx: BuildContext):
    """--fit: search the folding and write DIR/folding.json (+ frontier); --folding: check the
    file's node names and values and copy it to DIR/folding.json. FINN applies it next."""
    from .folding import Budget, check_folding_file, fit_folding, write_fit

    b = ctx.build
    if b.folding is not None:
        check_folding_file(model, Path(b.folding))
        shutil.copyfile(b.folding, ctx.out_dir / FOLDING_JSON)
    elif b.fit is not None:
        if ctx.board is None:
            raise BuildError(
                f"--fit needs the part's resources, and there is no resource table for --part "
                f"{ctx.part}; use --board, or --target-fps/--folding"
            )
        import copy

        from finn.builder.build_dataflow_steps import _minimize_bit_width

        est_model = _minimize_bit_width(copy.deepcopy(model), cfg)  # widths as in the final model
        res = fit_folding(est_model, ctx.part, Budget.of_board(ctx.board, b.fit), b.clock_ns)
        write_fit(ctx.out_dir, res)
        ctx.info["fit"] = {k: v for k, v in res.to_dict().items() if k != "frontier"}
    return model


def step_fewerbits_vivado_scripts(model, cfg, ctx: BuildContext):
    """Write DIR/vivado/ipgen.sh (the Vitis HLS command for each HLS layer's generated TCL)."""
    from .vivado import write_ipgen_script

    write_ipgen_script(model, ctx.out_dir)
    return model


CUSTOM_STEPS: dict[str, Callable] = {
    "step_fewerbits_drop_identity_thresholds": step_fewerbits_drop_identity_thresholds,
    "step_fewerbits_check_hw": step_fewerbits_check_hw,
    "step_fewerbits_prefer_rtl": step_fewerbits_prefer_rtl,
    "step_fewerbits_folding": step_fewerbits_folding,
    "step_fewerbits_vivado_scripts": step_fewerbits_vivado_scripts,
}


def run_step(step: str, model, cfg, ctx: BuildContext):
    """Run one named step (ours or FINN's; with impl_style "rtl", the all-RTL variants of FINN's
    steps from hw/rtlsim/flowsteps.py)."""
    fn = CUSTOM_STEPS.get(step) or finn_thresholds.STEPS.get(step)
    if fn is None:
        from finn.builder.build_dataflow_steps import build_dataflow_step_lookup

        fn = build_dataflow_step_lookup[step]
        if ctx.build.impl_style == "rtl":
            from .rtlsim.flowsteps import RTL_STEP_OVERRIDES

            fn = RTL_STEP_OVERRIDES.get(step, fn)
        return fn(model, cfg)
    if len(inspect.signature(fn).parameters) >= 3:
        return fn(model, cfg, ctx)
    return fn(model, cfg)


# ---- resume, staging --------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def config_hash(model_onnx: Path, build_cfg: BuildConfig) -> str:
    """What determines the steps' outputs: model, options (not --until), step list, FINN."""
    d = asdict(build_cfg)
    d.pop("until", None)
    d["model_sha256"] = _sha256(model_onnx)
    d["folding_sha256"] = _sha256(Path(build_cfg.folding)) if build_cfg.folding else None
    d["steps"] = SOFTWARE_STEPS + VIVADO_STEPS
    d["finn"] = finn_env.FINN_PLUS_VERSION
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def relocate(root: Path, old: Path, new: Path) -> None:
    """Rewrite absolute paths ``old`` -> ``new`` in the models and text files under ``root``
    (FINN stores absolute code-generation paths in node attributes and scripts)."""
    import onnx

    old_s, new_s = str(old), str(new)

    def fix_graph(g) -> None:
        for n in g.node:
            for a in n.attribute:
                if a.type == onnx.AttributeProto.STRING and old_s.encode() in a.s:
                    a.s = a.s.replace(old_s.encode(), new_s.encode())
                elif a.type == onnx.AttributeProto.GRAPH:
                    fix_graph(a.g)

    for p in Path(root).rglob("*"):
        if not p.is_file() or p.is_symlink():
            continue
        if p.suffix == ".onnx":
            m = onnx.load(str(p))
            fix_graph(m.graph)
            for prop in m.metadata_props:
                prop.value = prop.value.replace(old_s, new_s)
            onnx.save(m, str(p))
        elif p.suffix in (
            ".json",
            ".tcl",
            ".sh",
            ".yaml",
            ".txt",
            ".cpp",
            ".h",
            ".v",
            ".sv",
            ".py",
        ):
            if p.stat().st_size > 50_000_000:
                continue
            try:
                text = p.read_text()
            except UnicodeDecodeError:
                continue
            if old_s in text:
                p.write_text(text.replace(old_s, new_s))


def is_build_dir(path: Path) -> bool:
    """An empty folder or one written by this flow (safe to replace)."""
    path = Path(path)
    if not path.is_dir():
        return False
    return not any(path.iterdir()) or (path / BUILD_CONFIG_JSON).is_file()


def _stage_dir(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.partial"


def _load_state(out_dir: Path) -> dict | None:
    f = out_dir / STATE_JSON
    try:
        return json.loads(f.read_text())
    except (OSError, json.JSONDecodeError):
        return None


# ---- the build ----------------------------------------------------------------------------------


def build(
    model_onnx: Path,
    out_dir: Path,
    build_cfg: BuildConfig,
    progress: bool = True,
    resume: bool = False,
    command: str | None = None,
) -> dict:
    """Run the FINN flow on a QONNX model; return ``{steps, estimates, final_model}``.

    Also writes DIR/report.json and DIR/report.md. ``resume`` continues after the last
    completed step of an earlier build in DIR when the config hash is unchanged."""
    model_onnx, out_dir = Path(model_onnx).absolute(), Path(out_dir).absolute()
    if not model_onnx.is_file():
        raise BuildError(f"model {model_onnx} not found; run `fewerbits export` first")
    board = get_board(build_cfg.board)
    part, part_board = resolve_part(board, build_cfg.part)
    if build_cfg.impl_style not in ("rtl", "auto"):
        raise BuildError(f"impl_style {build_cfg.impl_style!r}: choose 'rtl' or 'auto'")
    if build_cfg.fit is not None and not 0 < build_cfg.fit <= 1:
        raise BuildError(f"--fit {build_cfg.fit:g}: give a fraction of the part in (0, 1]")
    if build_cfg.folding is not None and not Path(build_cfg.folding).is_file():
        raise BuildError(f"--folding {build_cfg.folding}: file not found")
    if out_dir.exists() and not is_build_dir(out_dir):
        raise BuildError(
            f"--out {out_dir} exists and is not a fewerbits build folder (it would be replaced); "
            "choose a new or empty folder"
        )
    vivado = vivado_found()
    until = resolve_until(build_cfg.until, vivado)
    chash = config_hash(model_onnx, build_cfg)
    stage = _stage_dir(out_dir)
    if stage.exists():
        shutil.rmtree(stage)
    state = _load_state(out_dir) if resume else None
    completed: list[str] = []
    if state and state.get("config_hash") == chash:
        shutil.copytree(out_dir, stage, symlinks=True)
        relocate(stage, out_dir, stage)
        completed = list(state.get("completed", []))
    stage.mkdir(parents=True, exist_ok=True)
    try:
        result = _build_in(
            model_onnx,
            stage,
            out_dir,
            build_cfg,
            part,
            part_board,
            until,
            vivado,
            chash,
            completed,
            progress,
            command,
        )
        relocate(stage, stage, out_dir)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(stage, out_dir)
        # issue 7: BUILD/deploy/ (driver, settings.json), written atomically after the move so
        # that its hashed files are never rewritten by relocate()
        from .deploy import write_deploy_package

        write_deploy_package(out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        # FINN's settings point at the staging folder; re-point them if it moved
        if (out_dir / "finn_settings.yaml").is_file():
            finn_env.write_settings(out_dir)
            finn_env.reset_settings_cache()
    return result


def _default_command(model_onnx: Path, b: BuildConfig, out_dir: Path) -> str:
    from .vivado import docker_command

    args = ["--board", b.board, "--clock-ns", f"{b.clock_ns:g}"]
    if b.part:
        args += ["--part", b.part]
    if b.impl_style != "rtl":
        args += ["--impl-style", b.impl_style]
    if b.fit is not None:
        args += ["--fit", f"{b.fit:g}"]
    elif b.folding is not None:
        args += ["--folding", str(b.folding)]
    elif b.target_fps is not None:
        args += ["--target-fps", str(b.target_fps)]
    return docker_command(str(model_onnx), args, str(out_dir))


def _build_in(
    model_onnx,
    stage,
    out_dir,
    build_cfg,
    part,
    part_board,
    until,
    vivado,
    chash,
    completed,
    progress,
    command,
) -> dict:
    finn_env.prepare_finn(stage)
    finn_env.write_settings(stage)
    finn_env.reset_settings_cache()

    from qonnx.core.modelwrapper import ModelWrapper

    cfg = dataflow_config(build_cfg, stage, part)
    ctx = BuildContext(build_cfg, stage, part, part_board)
    cmd = command or _default_command(model_onnx, build_cfg, out_dir)
    to_run, skipped = plan_steps(until, vivado, cmd)
    cfg.steps = list(to_run)
    write_json(stage / BUILD_CONFIG_JSON, json.loads(cfg.to_json()))

    inter = stage / INTERMEDIATE
    inter.mkdir(exist_ok=True)
    record = StepRecord(skipped=skipped)
    # resume only a prefix of the plan, from the last completed step's saved model
    n_done = 0
    while n_done < len(to_run) and to_run[n_done] in completed:
        n_done += 1
    if n_done and (inter / f"{to_run[n_done - 1]}.onnx").is_file():
        model = ModelWrapper(str(inter / f"{to_run[n_done - 1]}.onnx"))
        record.reused = to_run[:n_done]
        prev = _load_state(stage) or {}
        ctx.info = prev.get("info", {})
    else:
        n_done = 0
        model = ModelWrapper(str(model_onnx))
    state = {"config_hash": chash, "completed": list(record.reused), "info": ctx.info}
    write_json(stage / STATE_JSON, state)
    bar = tqdm(to_run[n_done:], desc="FINN build", disable=not progress, leave=False)
    for step in bar:
        bar.set_postfix_str(step.removeprefix("step_"))
        t0 = time.time()
        try:
            model = run_step(step, model, cfg, ctx)
        except FewerbitsError:
            raise
        except finn_env.VivadoRequiredError as e:
            raise BuildError(f"{step}: {e}") from None
        except Exception as e:  # noqa: BLE001 - FINN raises bare exceptions; name the step
            msg = " ".join(str(e).split())[:300]
            raise BuildError(f"FINN step {step} failed: {type(e).__name__}: {msg}") from e
        model.save(str(inter / f"{step}.onnx"))
        record.ran.append({"step": step, "seconds": round(time.time() - t0, 3)})
        state["completed"].append(step)
        write_json(stage / STATE_JSON, state)
    ctx.info["implementations"] = implementations(model)
    state["info"] = ctx.info
    write_json(stage / STATE_JSON, state)
    write_json(
        stage / STEPS_JSON,
        {"ran": record.ran, "reused": record.reused, "skipped": record.skipped},
    )
    final = inter / f"{to_run[-1]}.onnx"
    estimates = read_estimates(stage, folding_of(model))
    result = {
        "steps": {
            "ran": record.reused + [r["step"] for r in record.ran],
            "reused": record.reused,
            "skipped": record.skipped,
            "seconds": record.ran,
        },
        "estimates": estimates,
        "final_model": str(out_dir / INTERMEDIATE / final.name),
        "config_hash": chash,
        "info": ctx.info,
    }
    write_build_report(stage, model_onnx, build_cfg, part, part_board, result)
    return result


def folding_of(model) -> dict[str, dict[str, int]]:
    """PE/SIMD of every hardware node that has them."""
    from qonnx.custom_op.registry import getCustomOp

    out = {}
    for n in model.graph.node:
        if _is_hw(n):
            attrs = getCustomOp(n).get_nodeattr_types()
            out[n.name] = {
                a: int(getCustomOp(n).get_nodeattr(a)) for a in ("PE", "SIMD") if a in attrs
            }
    return out


def implementations(model) -> dict[str, str]:
    """op type (HLS or RTL variant) of every hardware node."""
    return {n.name: n.op_type for n in model.graph.node if _is_hw(n)}


def write_build_report(out: Path, model_onnx, b: BuildConfig, part, board, result: dict) -> None:
    """DIR/report.json and DIR/report.md for a build directory."""
    from fewerbits.core.report import write_report

    folding = None
    f = out / FOLDING_JSON
    if f.is_file():
        folding = json.loads(f.read_text())
    report = {
        "config": {"build": asdict(b), "part": part, "model": str(model_onnx)},
        "accuracy": None,
        "verification": None,
        "estimates": result["estimates"],
        "budget": None,
        "steps": {"ran": result["steps"]["ran"], "skipped": result["steps"]["skipped"]},
        "folding": folding,
        "fit": result["info"].get("fit"),
        "implementations": result["info"].get("implementations"),
        "artifacts": {"final_model": f"{INTERMEDIATE}/{Path(result['final_model']).name}"},
    }
    if board is not None:
        report["budget"] = {
            "part": part,
            "luts": board.luts,
            "brams": board.brams,
            "dsps": board.dsps,
            "urams": board.urams,
            "fraction": b.fit,
        }
    if (out / "plots" / "folding_frontier.png").is_file():
        report["plots"] = ["plots/folding_frontier.png"]
    write_report(out, report)


def read_estimates(out_dir: Path, folding: dict | None = None) -> dict:
    """FPS, latency, resources (total and per layer) from FINN's estimate reports."""
    rep = Path(out_dir) / "report"
    perf_file = rep / "estimate_network_performance.json"
    if not perf_file.is_file():
        return {}
    perf = json.loads(perf_file.read_text())
    cycles = json.loads((rep / "estimate_layer_cycles.json").read_text())
    res = json.loads((rep / "estimate_layer_resources.json").read_text())
    folding = folding or {}
    per_layer = []
    for name, r in res.items():
        if name == "total":
            continue
        per_layer.append(
            {
                "name": name,
                "cycles": int(cycles.get(name, 0)),
                "luts": float(r.get("LUT", 0)),
                "brams": float(r.get("BRAM_18K", 0)) / 2,
                "dsps": float(r.get("DSP", 0)),
                **{k: v for k, v in folding.get(name, {}).items() if k in ("PE", "SIMD")},
            }
        )
    return {
        "fps": float(perf["estimated_throughput_fps"]),
        "latency_cycles": int(perf["critical_path_cycles"]),
        "latency_ns": float(perf["estimated_latency_ns"]),
        "luts": sum(p["luts"] for p in per_layer),
        "brams": sum(p["brams"] for p in per_layer),
        "dsps": sum(p["dsps"] for p in per_layer),
        "per_layer": per_layer,
    }
