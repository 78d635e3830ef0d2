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
from fewerbits.hw.build import build, check_options
from fewerbits.train.datasets import load_dataset
from fewerbits.train.schemes import NOT_DEPLOYABLE_HINT, make_scheme
from fewerbits.train.trainer import train
from fewerbits.verify import summary_line, verify_directory


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


def stage(msg: str) -> None:
    print(f"[fewerbits] {msg}", flush=True)


def check_run(cfg: RunConfig) -> None:
    """Refuse, before any training, what would fail later (one line naming the option)."""
    tc = cfg.train
    scheme = make_scheme(tc.scheme, tc.wbits, tc.abits)
    if not scheme.deployable:
        raise UsageError(f"--scheme {tc.scheme}: not deployable to FINN: {NOT_DEPLOYABLE_HINT}")
    check_options(cfg.build)
    if cfg.verify_samples is not None and cfg.verify_samples < 0:
        raise UsageError(f"--verify-samples {cfg.verify_samples}: give 0 (all) or a positive count")


def run(cfg: RunConfig, out: Path, progress: bool = True, force: bool = False) -> dict:
    """Run the whole pipeline and write OUT/report.json and OUT/report.md; return the report.

    OUT is owned (:mod:`fewerbits.core.ownership`): locked while running, a run of other
    options is replaced only with ``force``; each stage folder is published when complete."""
    out = Path(out).absolute()
    check_run(cfg)
    check_writable(out)
    run_hash = sha256_json(cfg.to_dict())
    with ownership.claimed(out, "run", run_hash, force):
        report = _run(cfg, RunDir(out), progress, force)
        ownership.write_owner(out, "run", run_hash)
    return report


def _run(cfg: RunConfig, run_dir: RunDir, progress: bool, force: bool) -> dict:
    """The stages of :func:`run` into ``run_dir`` (held by the caller)."""
    out = run_dir.path
    t_start = time.time()
    timings: dict[str, float] = {}
    tc = cfg.train
    data = load_dataset(tc.dataset, Path(tc.data_file) if tc.data_file else None)

    stage(
        f"1/4 train {tc.model} {tc.scheme} w{tc.wbits}a{tc.abits} on {tc.dataset} ({tc.epochs} epochs)"
    )
    t0 = time.time()
    train_report = train(tc, run_dir.train.path, data=data, progress=progress, force=force)
    timings["train"] = time.time() - t0
    stage(f"    test accuracy {train_report['test_accuracy']:.4f}")

    stage("2/4 export to QONNX")
    t0 = time.time()
    export_info = export({"checkpoint": str(run_dir.train.path)}, run_dir.export.path, force=force)
    timings["export"] = time.time() - t0

    stage(
        f"3/4 FINN build for {cfg.build.board} at {1000 / cfg.build.clock_ns:.0f} MHz (until {cfg.build.until})"
    )
    t0 = time.time()
    hw = build(run_dir.export.model, run_dir.build.path, cfg.build, progress=progress, force=force)
    timings["build"] = time.time() - t0

    stage("4/4 verify PyTorch == QONNX == onnxruntime == FINN graphs on the test split")
    t0 = time.time()
    n = cfg.verify_samples or len(data.x_test)
    verified = verify_directory(
        run_dir.build.path, samples=n, progress=progress, skip=tuple(cfg.verify_skip)
    )
    levels = [LevelResult(**lv) for lv in verified["levels"]]
    timings["verify"] = time.time() - t0
    stage("    " + summary_line(levels))
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
    stage(f"done in {timings['total']:.0f} s: {run_dir.report_md}")
    return report
