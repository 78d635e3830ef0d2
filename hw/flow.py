"""The FINN build: a DataflowBuildConfig, FINN's own step functions, and our fix steps.

The step list is FINN's (``finn.builder.build_dataflow_config``), run one step at a time by
:func:`build` so that progress is shown, every intermediate model is saved as
``DIR/intermediate_models/<step>.onnx``, and the steps that need Vivado/Vitis HLS are recorded as
skipped (with the reason and the command to run them) instead of crashing the flow.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from fewerbits.compat import finn_env, finn_thresholds
from fewerbits.config import BuildConfig, write_json
from fewerbits.errors import FewerbitsError

from .boards import get_board

BUILD_CONFIG_JSON = "build_config.json"
STEPS_JSON = "steps.json"
INTERMEDIATE = "intermediate_models"

#: FINN steps that run on any Linux box (through HLS/RTL code generation).
SOFTWARE_STEPS = [
    "step_fewerbits_record_rounding",  # fewerbits/compat/finn_thresholds.py
    "step_qonnx_to_finn",
    "step_fewerbits_fix_float_ties",  # fewerbits/compat/finn_thresholds.py
    "step_tidy_up",
    "step_streamline",
    "step_fewerbits_fix_thresholds",  # fewerbits/compat/finn_thresholds.py
    "step_convert_to_hw",
    "step_minimize_bit_width_initial",
    "step_create_dataflow_partition",
    "step_specialize_layers",
    "step_target_fps_parallelization",
    "step_apply_folding_config",
    "step_minimize_bit_width",
    "step_generate_estimate_reports",
    "step_hw_codegen",
]

#: FINN steps that need Vitis HLS / Vivado, in order.
VIVADO_STEPS = [
    "step_hw_ipgen",
    "step_set_fifo_depths",
    "step_create_stitched_ip",
    "step_measure_rtlsim_performance",
    "step_out_of_context_synthesis",
    "step_synthesize_bitfile",
    "step_make_driver",
    "step_deployment_package",
]

#: --until name -> last step to run
UNTIL = {
    "estimates": "step_generate_estimate_reports",
    "codegen": "step_hw_codegen",
    "ip": "step_create_stitched_ip",
    "bitstream": "step_deployment_package",
}


class BuildError(FewerbitsError):
    """A build that cannot proceed (bad model, bad option); the message is one line."""


@dataclass
class StepRecord:
    """What happened to the steps of one build."""

    ran: list[dict] = field(default_factory=list)  # {step, seconds}
    skipped: list[dict] = field(default_factory=list)  # {step, reason}


def dataflow_config(build: BuildConfig, out_dir: Path):
    """FINN's DataflowBuildConfig for our BuildConfig (not yet including the step list)."""
    import finn.builder.build_dataflow_config as bc

    board = get_board(build.board)
    outputs = [bc.DataflowOutputType.ESTIMATE_REPORTS]
    cfg = bc.DataflowBuildConfig(
        output_dir=str(out_dir),
        synth_clk_period_ns=float(build.clock_ns),
        board=board.name,
        fpga_part=build.part or board.part,
        shell_flow_type=bc.ShellFlowType(board.shell_flow),
        generate_outputs=outputs,
        target_fps=build.target_fps or 100_000,
        save_intermediate_models=False,
        verbose=False,
    )
    return bc.DataflowBuildConfig.construct_from(cfg)


def plan_steps(until: str, vivado: bool) -> tuple[list[str], list[dict]]:
    """Steps to run and steps to skip (with the reason) for ``--until`` on this machine."""
    if until not in UNTIL:
        raise BuildError(f"--until {until!r}: choose one of {', '.join(UNTIL)}")
    all_steps = SOFTWARE_STEPS + VIVADO_STEPS
    last = all_steps.index(UNTIL[until])
    wanted = all_steps[: last + 1]
    run = [s for s in wanted if s in SOFTWARE_STEPS or vivado]
    skipped = [
        {
            "step": s,
            "reason": "needs Vivado/Vitis HLS, not found on this machine (XILINX_VIVADO unset); "
            "run it in the fewerbits Docker image: docker/run.sh fewerbits build ... --until bitstream",
        }
        for s in all_steps
        if s not in run
    ]
    return run, skipped


def build(model_onnx: Path, out_dir: Path, build_cfg: BuildConfig, progress: bool = True) -> dict:
    """Run the FINN flow on a QONNX model; return ``{steps, estimates, final_model}``."""
    model_onnx, out_dir = Path(model_onnx), Path(out_dir)
    if not model_onnx.is_file():
        raise BuildError(f"model {model_onnx} not found; run `fewerbits export` first")
    get_board(build_cfg.board)
    out_dir.mkdir(parents=True, exist_ok=True)
    finn_env.prepare_finn(out_dir)

    from finn.builder.build_dataflow_steps import build_dataflow_step_lookup
    from qonnx.core.modelwrapper import ModelWrapper

    cfg = dataflow_config(build_cfg, out_dir)
    vivado = finn_env.vivado_available() and finn_env.vitis_hls_available()
    to_run, skipped = plan_steps(build_cfg.until, vivado)
    cfg.steps = list(to_run)
    write_json(out_dir / BUILD_CONFIG_JSON, json.loads(cfg.to_json()))

    inter = out_dir / INTERMEDIATE
    inter.mkdir(exist_ok=True)
    model = ModelWrapper(str(model_onnx))
    record = StepRecord(skipped=skipped)
    bar = tqdm(to_run, desc="FINN build", disable=not progress, leave=False)
    for step in bar:
        bar.set_postfix_str(step.removeprefix("step_"))
        t0 = time.time()
        try:
            step_fn = finn_thresholds.STEPS.get(step) or build_dataflow_step_lookup[step]
            model = step_fn(model, cfg)
        except finn_env.VivadoRequiredError as e:
            raise BuildError(f"{step}: {e}") from None
        except Exception as e:  # noqa: BLE001 - FINN raises bare exceptions; name the step
            raise BuildError(f"FINN step {step} failed: {type(e).__name__}: {e}") from e
        model.save(str(inter / f"{step}.onnx"))
        record.ran.append({"step": step, "seconds": round(time.time() - t0, 3)})
    write_json(out_dir / STEPS_JSON, {"ran": record.ran, "skipped": record.skipped})
    return {
        "steps": {
            "ran": [r["step"] for r in record.ran],
            "skipped": record.skipped,
            "seconds": record.ran,
        },
        "estimates": read_estimates(out_dir),
        "final_model": str(inter / f"{to_run[-1]}.onnx"),
    }


def read_estimates(out_dir: Path) -> dict:
    """FPS, latency, resources (total and per layer) from FINN's estimate reports."""
    rep = Path(out_dir) / "report"
    perf_file = rep / "estimate_network_performance.json"
    if not perf_file.is_file():
        return {}
    perf = json.loads(perf_file.read_text())
    cycles = json.loads((rep / "estimate_layer_cycles.json").read_text())
    res = json.loads((rep / "estimate_layer_resources.json").read_text())
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
