"""`fewerbits run`: train -> export -> build -> verify -> report, each stage an artifact on disk.

OUT/train/checkpoint.pt, train.json
OUT/export/model.onnx, export.json
OUT/build/ (FINN build directory: build_config.json, intermediate_models/, report/)
OUT/report.json, OUT/report.md
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from fewerbits.core import ownership
from fewerbits.core.artifacts import RunDir
from fewerbits.core.compare import LevelResult
from fewerbits.core.config import RunConfig
from fewerbits.core.errors import FewerbitsError, UsageError
from fewerbits.core.files import sha256_json
from fewerbits.core.report import write_report
from fewerbits.export.exporter import export
from fewerbits.hw.build import build, check_options, finish_moved_build, relocate_builds
from fewerbits.train.datasets import load_dataset
from fewerbits.train.schemes import NOT_DEPLOYABLE_HINT
from fewerbits.train.trainer import check_options as check_train_options
from fewerbits.train.trainer import train
from fewerbits.verify import summary_line, verify_directory
from fewerbits.verify.level import check_level_names

#: levels `run` leaves out unless --skip is given, and why (the report says so)
RUN_SKIPS_BY_DEFAULT = {
    "rtl_nodes": "left out by `fewerbits run` by default (one Verilator build per layer, "
    "minutes); `fewerbits verify OUT/build` runs it, as does `run --skip` with no level",
}


class RunError(FewerbitsError):
    """A pipeline that cannot run (bad option, unwritable output); one-line message."""


def check_writable(out: Path) -> None:
    """Fail early, with one line, if the output folder cannot be created or written."""
    out = Path(out)
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise RunError(
            f"output folder {out} is not writable ({probe} is not a writable directory); choose another --out"
        )


def stage_msg(msg: str) -> None:
    print(f"[fewerbits] {msg}", flush=True)


def check_run(cfg: RunConfig) -> None:
    """Refuse, before any training, what would fail later (one line naming the option)."""
    tc = cfg.train
    scheme = check_train_options(tc)
    if not scheme.deployable:
        raise UsageError(f"--scheme {tc.scheme}: not deployable to FINN: {NOT_DEPLOYABLE_HINT}")
    check_options(cfg.build)
    check_level_names(tuple(cfg.verify_skip or ()))
    if cfg.verify_samples is not None and cfg.verify_samples < 0:
        raise UsageError(f"--verify-samples {cfg.verify_samples}: give 0 (all) or a positive count")


def run(cfg: RunConfig, out: Path, progress: bool = True, force: bool = False) -> dict:
    """Run the whole pipeline and write OUT/report.json and OUT/report.md; return the report.

    OUT is owned (:mod:`fewerbits.core.ownership`): locked while running, a run of other
    options is replaced only with ``force``, and the whole run is staged in ``.OUT.partial``
    and published by rename only when complete: a failed run leaves the previous OUT as it was
    and is kept in ``.OUT.failed`` (named in the error); an interrupted one leaves nothing."""
    out = Path(out).absolute()
    check_run(cfg)
    check_writable(out)
    run_hash = sha256_json(cfg.to_dict())
    stage, failed = ownership.sibling(out, "partial"), ownership.sibling(out, "failed")
    try:
        with ownership.owned_output(
            out,
            "run",
            run_hash,
            force,
            keep_failed=True,
            finish=lambda final: finish_moved_build(RunDir(final).build.path),
        ) as stage:
            report = _run(cfg, RunDir(stage), progress, force)
            relocate_builds(stage, stage, out)
    except FewerbitsError as e:
        if str(stage) not in str(e) or not failed.is_dir():
            raise
        # the paths in the message moved with the failed run
        raise type(e)(str(e).replace(str(stage), str(failed))) from e
    stage_msg(f"done in {report['timings_seconds']['total']:.0f} s: {RunDir(out).report_md}")
    return report


def _run(cfg: RunConfig, run_dir: RunDir, progress: bool, force: bool) -> dict:
    """The stages of :func:`run` into ``run_dir`` (held by the caller)."""
    out = run_dir.path
    t_start = time.time()
    timings: dict[str, float] = {}
    tc = cfg.train
    data = load_dataset(tc.dataset, Path(tc.data_file) if tc.data_file else None)

    stage_msg(
        f"1/4 train {tc.model} {tc.scheme} w{tc.wbits}a{tc.abits} on {tc.dataset} ({tc.epochs} epochs)"
    )
    t0 = time.time()
    train_report = train(tc, run_dir.train.path, data=data, progress=progress, force=force)
    timings["train"] = time.time() - t0
    stage_msg(f"    test accuracy {train_report['test_accuracy']:.4f}")

    stage_msg("2/4 export to QONNX")
    t0 = time.time()
    export_info = export({"checkpoint": str(run_dir.train.path)}, run_dir.export.path, force=force)
    timings["export"] = time.time() - t0

    stage_msg(
        f"3/4 FINN build for {cfg.build.board} at {1000 / cfg.build.clock_ns:.0f} MHz (until {cfg.build.until})"
    )
    t0 = time.time()
    hw = build(run_dir.export.model, run_dir.build.path, cfg.build, progress=progress, force=force)
    timings["build"] = time.time() - t0

    stage_msg("4/4 verify PyTorch == QONNX == onnxruntime == FINN graphs on the test split")
    t0 = time.time()
    n = cfg.verify_samples or len(data.x_test)
    default_skip = cfg.verify_skip is None
    verified = verify_directory(
        run_dir.build.path,
        samples=n,
        progress=progress,
        skip=tuple(RUN_SKIPS_BY_DEFAULT if default_skip else cfg.verify_skip),
        skip_reasons=RUN_SKIPS_BY_DEFAULT if default_skip else None,
    )
    levels = [LevelResult(**lv) for lv in verified["levels"]]
    timings["verify"] = time.time() - t0
    stage_msg("    " + summary_line(levels))
    timings["total"] = time.time() - t_start

    report = {
        "config": cfg.to_dict(),
        "accuracy": {"test": train_report["test_accuracy"], "test_samples": len(data.x_test)},
        "train": {
            k: train_report[k]
            for k in ("model", "scheme", "wbits", "abits", "dataset", "epochs", "train_seconds")
        },
        "export": {k: export_info[k] for k in ("opset", "nodes", "input", "output")},
        "verification": {
            "levels": [r.to_dict() for r in levels],
            "all_passed": verified["all_passed"],
        },
        "rtl_simulation": verified.get("rtl", {}),
        "estimates": hw.estimates,
        "steps": {"ran": hw.steps.ran, "skipped": hw.steps.skipped},
        "timings_seconds": {k: round(v, 2) for k, v in timings.items()},
        "artifacts": {
            "checkpoint": "train/checkpoint.pt",
            "qonnx": "export/model.onnx",
            "build": "build/",
            "final_model": os.path.relpath(hw.final_model, out),
        },
        # the build's own facts (budget, folding, implementation per layer) for the folding table
        "budget": hw.budget,
        "folding": hw.folding,
        "fit": hw.info.get("fit"),
        "implementations": hw.info.get("implementations"),
    }
    write_report(out, report)
    return report
