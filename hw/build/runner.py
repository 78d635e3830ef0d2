"""The build runner: staging, resume, one step at a time, skip records, the result.

The build happens in a hidden sibling folder that is renamed to ``DIR`` only when it succeeded
(no half-written output); ``DIR/build_state.json`` holds the config hash and the completed steps
for ``--resume``. Every model is saved as ``DIR/intermediate_models/<step>.onnx``; the steps that
need Vivado/Vitis HLS are recorded as skipped, with the reason and the command that runs them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

from fewerbits.compat.finn import build as finn_build
from fewerbits.compat.finn import env as finn_env
from fewerbits.core import ownership
from fewerbits.core.artifacts import BuildDir
from fewerbits.core.config import BuildConfig
from fewerbits.core.errors import FewerbitsError
from fewerbits.core.files import read_json, sha256_file, sha256_json, write_json

from .. import deploy  # a module import: deploy reads this package's step names
from ..boards import Board, get_board, resolve_part
from ..vivado import continuation_command
from . import impl_style
from .context import BuildContext
from .finn_config import dataflow_config
from .graph_check import check_graph_ops
from .report import budget_of, folding_of, implementations, read_estimates, write_build_report
from .result import BuildResult, StepRecord
from .steps import (
    SOFTWARE_STEPS,
    VIVADO_STEPS,
    BuildError,
    BuildOptionError,
    get_step,
    load_extra_steps,
    plan_steps,
    resolve_until,
)


def vivado_found() -> bool:
    """True when both Vivado and Vitis HLS are on this machine."""
    return finn_env.vivado_available() and finn_env.vitis_hls_available()


def config_hash(model_onnx: Path, build_cfg: BuildConfig) -> str:
    """What determines the steps' outputs: model, options (not --until), step list, FINN."""
    d = asdict(build_cfg)
    d.pop("until", None)
    d["model_sha256"] = sha256_file(model_onnx)
    d["folding_sha256"] = sha256_file(Path(build_cfg.folding)) if build_cfg.folding else None
    extra = build_cfg.extra_steps
    d["extra_steps_sha256"] = sha256_file(Path(extra.rpartition(":")[0])) if extra else None
    d["steps"] = SOFTWARE_STEPS + VIVADO_STEPS
    d["finn"] = finn_env.FINN_PLUS_VERSION
    return sha256_json(d)


def check_model_file(model_onnx: Path):
    """Refuse, in one line and before staging, a model file that is missing, empty, not ONNX
    (truncated, text, other bytes) or without a graph; return its graph (GraphProto)."""
    import onnx  # lazy: a heavy upstream package

    hint = "give the model.onnx written by `fewerbits export`"
    if not model_onnx.is_file():
        raise BuildError(f"model {model_onnx} not found; run `fewerbits export` first")
    if model_onnx.stat().st_size == 0:
        raise BuildError(f"model {model_onnx} is empty (0 bytes); {hint}")
    try:
        graph = onnx.load(str(model_onnx), load_external_data=False).graph
    except Exception as e:  # noqa: BLE001 - protobuf's DecodeError and friends, in one line
        raise BuildError(
            f"model {model_onnx} is not a readable ONNX file ({type(e).__name__}: truncated or "
            f"not ONNX); {hint}"
        ) from None
    if not (graph.node and graph.input and graph.output):
        raise BuildError(f"model {model_onnx} holds no ONNX graph (no nodes or inputs); {hint}")
    return graph


def check_options(b: BuildConfig) -> tuple[str, Board | None]:
    """Refuse bad options before anything is built or written (one line naming the option);
    return the FPGA part and its resource table (None for a part without one)."""
    board = get_board(b.board)
    part, part_board = resolve_part(board, b.part)
    if part_board is not None and part_board.part != board.part:
        raise BuildOptionError(
            f"--board {board.name} has part {board.part}, not --part {b.part}; "
            f"give --board {part_board.name} or leave one of them out"
        )
    if not (b.clock_ns > 0 and b.clock_ns < 1e6):
        raise BuildOptionError(
            f"--clock-ns {b.clock_ns:g}: give a clock period in ns > 0 (10 = 100 MHz)"
        )
    if b.target_fps is not None and b.target_fps < 1:
        raise BuildOptionError(f"--target-fps {b.target_fps}: give frames per second >= 1")
    impl_style.check(b)
    if b.fit is not None and not 0 < b.fit <= 1:
        raise BuildOptionError(f"--fit {b.fit:g}: give a fraction of the part in (0, 1]")
    if b.fit is not None and part_board is None:
        raise BuildOptionError(
            f"--fit needs the part's resources, and there is no resource table for --part "
            f"{part}; use --board, or --target-fps/--folding"
        )
    if b.folding is not None and not Path(b.folding).is_file():
        raise BuildError(f"--folding {b.folding}: file not found")
    if b.extra_steps is not None:
        load_extra_steps(b.extra_steps)  # refused in one line before any work
    return part, part_board


def _load_state(out: BuildDir) -> dict | None:
    try:
        return read_json(out.state)
    except (OSError, json.JSONDecodeError):
        return None


def build(
    model_onnx: Path,
    out_dir: Path,
    build_cfg: BuildConfig,
    progress: bool = True,
    resume: bool = False,
    command: str | None = None,
    force: bool = False,
) -> BuildResult:
    """Run the FINN flow on a QONNX model into ``out_dir`` (a :class:`BuildDir`).

    Also writes DIR/report.json, DIR/report.md and DIR/deploy/. ``resume`` continues after the
    last completed step of an earlier build in DIR when the config hash is unchanged;
    ``command`` is the command printed for the skipped Vivado steps. ``out_dir`` is owned
    (:mod:`fewerbits.core.ownership`): locked while building, a build of other options is
    replaced only with ``force``, and the old folder stays intact until the new one (with its
    deploy/) is complete."""
    model_onnx = Path(model_onnx).absolute()
    out = BuildDir(Path(out_dir).absolute())
    graph = check_model_file(model_onnx)
    part, part_board = check_options(build_cfg)
    check_graph_ops(graph, model_onnx, part)  # nodes FINN cannot build, named as in the file
    chash = config_hash(model_onnx, build_cfg)
    with ownership.claimed(out.path, "build", chash, force) as stage_path:
        stage = BuildDir(stage_path)
        failed = ownership.sibling(out.path, "failed")
        shutil.rmtree(failed, ignore_errors=True)  # an earlier failed build of this --out
        state = _load_state(out) if resume else None
        completed: list[str] = []
        if state and state.get("config_hash") == chash:
            shutil.copytree(out.path, stage.path, symlinks=True)
            finn_build.relocate(stage.path, out.path, stage.path)
            completed = list(state.get("completed", []))
        stage.path.mkdir(parents=True, exist_ok=True)
        cmd = command or continuation_command(model_onnx, build_cfg, out.path)
        target = (part, part_board)
        try:
            result = _build_in(
                model_onnx, stage, out, build_cfg, target, chash, completed, progress, cmd
            )
            ownership.write_owner(stage.path, "build", chash)
            finn_build.relocate(stage.path, stage.path, out.path)
            # BUILD/deploy/ is written after the rename so that relocate() never rewrites its
            # hashes; a failure there puts the previous --out back (publish's rollback)
            ownership.publish(stage.path, out.path, finish=deploy.write_deploy_package)
        except Exception as e:
            # keep every intermediate model of the failed build for debugging; --out is untouched
            if not stage.path.exists():
                raise
            os.replace(stage.path, failed)
            if isinstance(e, FewerbitsError):
                raise type(e)(f"{e} (the failed build is kept in {failed})") from e
            raise
        except BaseException:  # interrupted: nothing half-written stays behind
            shutil.rmtree(stage.path, ignore_errors=True)
            raise
        finally:
            # FINN's settings point at the staging folder; re-point them if it moved
            if (out.path / "finn_settings.yaml").is_file():
                finn_env.write_settings(out.path)
                finn_env.reset_settings_cache()
    return result


def relocate_builds(root: Path, old: Path, new: Path) -> None:
    """A folder holding builds (a run's staging folder) is about to move from ``old`` to
    ``new``: rewrite the absolute paths FINN and the reports keep under ``root``."""
    finn_build.relocate(root, old, new)


def finish_moved_build(build_dir: Path) -> None:
    """After a build moved into place with its enclosing folder: BUILD/deploy/ written afresh
    (its hashes cover the graph with the final paths) and FINN's settings re-pointed."""
    deploy.write_deploy_package(build_dir)
    if (build_dir / "finn_settings.yaml").is_file():
        finn_env.write_settings(build_dir)
        finn_env.reset_settings_cache()


def _build_in(
    model_onnx: Path,
    stage: BuildDir,
    out: BuildDir,
    b: BuildConfig,
    target: tuple[str, Board | None],
    chash: str,
    completed: list[str],
    progress: bool,
    command: str,
) -> BuildResult:
    """Every planned step in the staging folder; the result names the final folder."""
    finn_env.prepare_finn(stage.path)
    finn_env.write_settings(stage.path)
    finn_env.reset_settings_cache()
    part, part_board = target
    refusal = get_board(b.board).finn_refusal  # an open-FPGA board: FINN stops after codegen
    vivado = vivado_found() and refusal is None
    open_board = refusal is not None  # its bitstream: Yosys + nextpnr (hw/board)
    until = resolve_until(b.until, vivado or open_board)
    cfg = dataflow_config(b, stage.path, part)
    ctx = BuildContext(b, stage, part, part_board)
    extra = load_extra_steps(b.extra_steps) if b.extra_steps else []
    ctx.extra_steps = {e.step.name: e.step for e in extra}
    to_run, skipped = plan_steps(until, vivado, command, extra, open_board)
    if refusal:
        for s in skipped:
            if s["step"] in VIVADO_STEPS:
                s["reason"], s["command"] = refusal, ""
    cfg.steps = list(to_run)
    write_json(stage.config, json.loads(cfg.to_json()))
    stage.intermediate.mkdir(exist_ok=True)
    record = StepRecord(skipped=skipped)
    model, n_done = _resume_point(model_onnx, stage, to_run, completed, record, ctx)
    state = {"config_hash": chash, "completed": list(record.reused), "info": ctx.info}
    write_json(stage.state, state)
    model = _run_steps(model, to_run[n_done:], cfg, ctx, record, state, progress)
    ctx.info["implementations"] = implementations(model)
    state["info"] = ctx.info
    write_json(stage.state, state)
    # the config as run: a step may change what the style decided (standalone thresholds)
    write_json(stage.config, json.loads(cfg.to_json()))
    record.ran = record.reused + [r["step"] for r in record.seconds]
    write_json(
        stage.steps, {"ran": record.seconds, "reused": record.reused, "skipped": record.skipped}
    )
    result = BuildResult(
        build=b,
        model_onnx=model_onnx,
        part=part,
        steps=record,
        estimates=read_estimates(stage, folding_of(model)),
        final_model=out.model_after(to_run[-1]),
        config_hash=chash,
        info=ctx.info,
        budget=budget_of(part_board, part, b.fit),
        folding=read_json(stage.folding) if stage.folding.is_file() else None,
    )
    write_build_report(stage, result)
    return result


def _resume_point(model_onnx, stage: BuildDir, to_run, completed, record, ctx):
    """(model to start from, number of steps already done): only a prefix of the plan is
    reused, from the last completed step's saved model."""
    from qonnx.core.modelwrapper import ModelWrapper  # lazy: qonnx import after prepare_finn

    n_done = 0
    while n_done < len(to_run) and to_run[n_done] in completed:
        n_done += 1
    if n_done and stage.model_after(to_run[n_done - 1]).is_file():
        record.reused = to_run[:n_done]
        ctx.info = (_load_state(stage) or {}).get("info", {})
        return ModelWrapper(str(stage.model_after(to_run[n_done - 1]))), n_done
    return ModelWrapper(str(model_onnx)), 0


def _run_steps(model, steps: list[str], cfg, ctx: BuildContext, record, state, progress):
    """Run ``steps`` in order, saving each model and the state; FINN's console output goes to
    BUILD/build.log instead of the terminal."""
    bar = tqdm(steps, desc="FINN build", disable=not progress, leave=False)
    with open(ctx.out.log, "a") as log:
        for name in bar:
            bar.set_postfix_str(name.removeprefix("step_"))
            t0 = time.time()
            print(f"---- {name}", file=log, flush=True)
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                model = _run_step(name, model, cfg, ctx)
            model.save(str(ctx.out.model_after(name)))
            record.seconds.append({"step": name, "seconds": round(time.time() - t0, 3)})
            state["completed"].append(name)
            write_json(ctx.out.state, state)
    return model


def _run_step(name: str, model, cfg, ctx: BuildContext):
    """One step; FINN's errors name the step."""
    step = ctx.extra_steps.get(name) or get_step(name, ctx.build.impl_style)
    try:
        return step(model, cfg, ctx)
    except FewerbitsError:
        raise
    except finn_env.VivadoRequiredError as e:
        raise BuildError(f"{name}: {e}") from None
    except Exception as e:  # noqa: BLE001 - FINN raises bare exceptions; name the step
        msg = " ".join(str(e).split())[:300]
        raise BuildError(f"FINN step {name} failed: {type(e).__name__}: {msg}") from e
