"""`fewerbits verify DIR`: the whole ladder for a run, build or export folder -> DIR/verify.json."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from fewerbits.core.arrays import check_pixel_range, load_npy
from fewerbits.core.artifacts import VERIFY_JSON, BuildDir, ExportDir, RunDir
from fewerbits.core.compare import DEFAULT_ULP_BOUND, LevelResult, bit_identical
from fewerbits.core.errors import UsageError
from fewerbits.core.files import write_json
from fewerbits.core.float_tail import LazyTailBound
from fewerbits.export.exporter import source_model
from fewerbits.export.trace import act_calls, compare_act_integers, resolve_reference
from fewerbits.train.datasets import load_dataset

from .ladder import localize, run_ladder, summary_line
from .level import TRACE_REFERENCE, Level, SkippedLevel, VerifyInputError, make_levels
from .levels.qonnx import QonnxLevel

#: samples per PyTorch forward pass of the reference (its float32 evaluation depends on it)
PYTORCH_BATCH = 500


def pytorch_reference(
    model: torch.nn.Module, x: np.ndarray, batch: int = PYTORCH_BATCH
) -> np.ndarray:
    """The reference: the PyTorch model's float32 outputs."""
    model.eval()
    with torch.no_grad():
        return np.concatenate(
            [model(torch.from_numpy(x[i : i + batch])).numpy() for i in range(0, len(x), batch)]
        )


def resolved_reference(
    model,
    export: ExportDir,
    x: np.ndarray,
    ref: np.ndarray,
    note: dict,
    qonnx: Level,
    bound: LazyTailBound,
) -> np.ndarray:
    """PyTorch's outputs, with the samples where its float32 rounding at a tie differs from the
    graph's replaced by the graph's own output once :func:`resolve_reference` has shown them
    exact with PyTorch's integers pinned (recorded in ``note``; export/trace.py)."""
    from qonnx.core.modelwrapper import ModelWrapper  # lazy: qonnx import takes seconds

    w = ModelWrapper(str(export.model))
    if not act_calls(w):
        return ref  # exported before call order was recorded: no identity, no resolution
    out = qonnx.run(x)
    if bit_identical(ref, out):
        return ref
    res = resolve_reference(model, w, x, ref, out, bound(), batch=PYTORCH_BATCH)
    if res.note():
        note["resolution"] = res.note()
    note["resolved_samples"] = res.resolved
    return res.reference


def check_pytorch_integers(res: LevelResult, model, export: ExportDir, x: np.ndarray) -> None:
    """The qonnx level's integer tensors against PyTorch's on every sample (by identity:
    export/trace.py :func:`compare_act_integers`, in the reference's batches); a difference
    that is not a float32 tie fails the level, naming the user's layer (in place)."""
    from qonnx.core.modelwrapper import ModelWrapper  # lazy: qonnx import takes seconds

    t0 = time.time()
    cmp = compare_act_integers(model, ModelWrapper(str(export.model)), x, batch=PYTORCH_BATCH)
    res.integers = cmp.summary()
    res.seconds = round((res.seconds or 0.0) + time.time() - t0, 3)
    if cmp.failed is not None:
        f = cmp.failed
        layer = f", layer {f.layer}" if f.layer else ""
        res.status, res.first_failing_sample = "fail", cmp.failed_sample
        res.node = f"{f.node} (integer output differs from PyTorch's{layer})"
        res.reason = (
            f"integer output of quantizer {f.node}{layer} differs from PyTorch's on sample "
            f"{cmp.failed_sample}: {f.why}"
        )


def resolve_dirs(d: Path, export: Path | None = None) -> tuple[ExportDir, BuildDir | None]:
    """(export folder, build folder or None) for a build, export or run folder; ``export``
    names the export folder of a build explicitly (``--export``)."""
    d = Path(d)
    if not d.is_dir():
        raise VerifyInputError(f"{d} is not a folder; give a build, export or run folder")
    if export is not None and not ExportDir(export).exists():
        raise VerifyInputError(
            f"--export {export}: no {ExportDir.INFO} there; give a folder written by "
            "`fewerbits export`"
        )
    build = BuildDir(d)
    if build.exists():
        built_from = build.source_model()
        candidates = [
            *([ExportDir(export)] if export is not None else []),
            *([ExportDir(built_from.parent)] if built_from is not None else []),
            ExportDir(d.parent / "export"),
            ExportDir(d / "export"),
        ]
        for cand in candidates:
            if cand.exists():
                return cand, build
        raise VerifyInputError(
            f"{d} is a build folder, but the export it was built from "
            f"({built_from.parent if built_from else d.parent / 'export'}) has no "
            f"{ExportDir.INFO}; pass --export DIR (the folder `fewerbits export` wrote)"
        )
    if ExportDir(d).exists():
        return ExportDir(d), None
    run = RunDir(d)
    if run.export.exists():
        return run.export, run.build if run.build.exists() else None
    raise VerifyInputError(
        f"{d}: no {ExportDir.INFO} or {BuildDir.INTERMEDIATE}/ found; give a folder written by "
        "`fewerbits export`, `fewerbits build` or `fewerbits run`"
    )


def verify_json_path(d: Path, input_file: Path | None, out_file: Path | None) -> Path:
    """Where a check writes: ``--out``; beside ``--input X.npy`` as ``X.verify.json`` (the
    folder's own verify.json, the one its report shows, is never overwritten by a check of
    other inputs); else ``DIR/verify.json``."""
    if out_file is not None:
        path = Path(out_file)
    elif input_file is not None:
        path = Path(input_file).with_name(Path(input_file).stem + ".verify.json")
    else:
        path = Path(d) / VERIFY_JSON
    if path.is_dir():
        raise VerifyInputError(f"--out {path} is a folder; give a .json file path")
    return path


def load_inputs(info: dict, input_file: Path | None, samples: int | None) -> np.ndarray:
    """The verification inputs: ``--input X.npy`` or the checkpoint's test split."""
    shape = tuple(info.get("input_shape") or info["input"]["shape"][1:])
    if input_file is not None:
        p = Path(input_file)
        x = load_npy(p, "--input")
        check_pixel_range(x, p, (info.get("input") or {}).get("datatype"))
        if x.ndim == len(shape):
            x = x[None]
        if tuple(x.shape[1:]) != shape:
            raise VerifyInputError(
                f"--input {p}: shape {tuple(x.shape)} does not match the model input "
                f"(N, {', '.join(map(str, shape))}); give a float32 NCHW/NC array"
            )
    elif info.get("dataset"):
        df = info.get("data_file")
        x = load_dataset(info["dataset"], Path(df) if df else None).x_test
    else:
        raise VerifyInputError(
            "the model was exported from a factory without a dataset; pass --input X.npy "
            "(float32 inputs of shape N," + ",".join(map(str, shape)) + ")"
        )
    if samples is not None:
        if samples < 0:
            raise UsageError(f"--samples {samples}: give a positive number (0 = all)")
        x = x[: samples or None]
    return np.ascontiguousarray(x, dtype=np.float32)


def with_extra_levels(levels: list[Level], extra: list[Level] | None) -> list[Level]:
    """``levels`` with each extra level replacing the one of the same name, or appended."""
    levels = list(levels)
    index = {lv.name: i for i, lv in enumerate(levels)}
    for lv in extra or []:
        if lv.name in index:
            levels[index[lv.name]] = lv
        else:
            levels.append(lv)
    return levels


def section_numbers(levels: list[Level], results: list[LevelResult], section: str) -> dict:
    """Per level of ``section``: status, frames, bit-exact count, reason, and its numbers()."""
    by_name = {r.name: r for r in results}
    out: dict = {}
    for lv in levels:
        if lv.section != section:
            continue
        res = by_name.get(lv.name)
        d: dict = {}
        if res is not None:
            d.update(status=res.status, frames=res.samples, bit_exact=res.bit_exact)
            if res.reason:
                d["reason"] = res.reason
        d.update(lv.numbers(res))
        out[lv.name] = d
    return out


def verify_directory(
    d: Path,
    input_file: Path | None = None,
    samples: int | None = None,
    extra_levels: list[Level] | None = None,
    progress: bool = True,
    skip: tuple[str, ...] = (),
    export_dir: Path | None = None,
    include: tuple[str, ...] = (),
    out_file: Path | None = None,
    skip_reasons: dict[str, str] | None = None,
    waveform: bool = False,
    simulator: str | None = None,
) -> dict:
    """Run every level available for ``d`` and write its verify.json (:func:`verify_json_path`);
    return its content (``"json"``: where it was written). ``waveform``: a failing RTL level
    also writes an FST waveform around the first wrong word of the first wrong layer;
    ``simulator``: the back end of the RTL levels (hw/sim/registry.py; default Verilator)."""
    d = Path(d)
    out_file = verify_json_path(d, input_file, out_file)
    export, build = resolve_dirs(d, export_dir)
    info = export.read_info()
    if "source" not in info:
        raise VerifyInputError(
            f"{export.info} does not record the model it came from; "
            "re-export it with `fewerbits export`"
        )
    x = load_inputs(info, input_file, samples)
    levels = with_extra_levels(
        make_levels(export, build, tuple(skip), tuple(include), skip_reasons), extra_levels
    )
    for lv in levels:
        if hasattr(lv, "waveform"):  # the RTL levels that can write one (--trace)
            lv.waveform = waveform
        if simulator is not None and hasattr(lv, "use_simulator"):  # the RTL levels
            lv.use_simulator(simulator)
    t0 = time.time()
    model = None  # the PyTorch model, if there is one
    if "qonnx" in info["source"]:
        # no PyTorch model: the QONNX graph's own execution is the reference
        reference = {"name": "qonnx", "note": "no PyTorch model; QONNX file exported elsewhere"}
        ref = QonnxLevel(export).run(x)
        levels = [
            SkippedLevel("qonnx", "the reference (no PyTorch model)") if lv.name == "qonnx" else lv
            for lv in levels
        ]
    else:
        reference = {"name": "pytorch"}
        model = source_model(info["source"])
        ref = pytorch_reference(model, x)
        qonnx = next((lv for lv in levels if isinstance(lv, QonnxLevel)), QonnxLevel(export))
        bound = LazyTailBound(export.model, x, ref)
        ref = resolved_reference(model, export, x, ref, reference, qonnx, bound)
    reference["seconds"] = round(time.time() - t0, 3)
    if reference.get("resolved_samples") or "qonnx" in info["source"]:
        bound = LazyTailBound(export.model, x, ref)  # |reference| enters the bound
    # the integer tensors of every tracing level are compared with the exported graph's even
    # when its own level is skipped (--skip qonnx) or is the reference (a QONNX file)
    trace_ref = next(
        (lv for lv in levels if lv.name == TRACE_REFERENCE and lv.can_trace), QonnxLevel(export)
    )
    results = run_ladder(
        ref, x, levels, progress=progress, trace_reference=trace_ref, tail_bound=bound
    )
    qonnx_result = next((r for r in results if r.name == "qonnx" and r.status != "skipped"), None)
    if model is not None and qonnx_result is not None:
        check_pytorch_integers(qonnx_result, model, export, x)
    localize(results, levels, x, trace_ref)
    out = {
        "directory": str(d),
        "export": str(export.path),
        "build": str(build.path) if build else None,
        "inputs": str(input_file) if input_file else f"{info.get('dataset')} test split",
        "samples": len(x),
        "reference": reference,
        "trace_reference": TRACE_REFERENCE,
        "ulp_bound": None if bound.used is not None else DEFAULT_ULP_BOUND,
        "float_tail_bound": None
        if bound.used is None
        else {"max": float(bound.used.max()), "how": "derived: fewerbits/core/float_tail.py"},
        "levels": [r.to_dict() for r in results],
        "all_passed": all(r.status != "fail" for r in results),
        "summary": summary_line(results),
    }
    if build is not None:
        out["rtl"] = section_numbers(levels, results, "rtl")
    write_json(out_file, out)
    return {**out, "json": str(out_file)}
