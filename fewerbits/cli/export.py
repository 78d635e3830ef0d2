"""`fewerbits export`: checkpoint or file.py:factory -> QONNX model.onnx, export.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from fewerbits.cli.common import add_force_arg


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "export", help="checkpoint.pt or file.py:factory -> QONNX model.onnx, export.json"
    )
    p.add_argument(
        "model",
        help="checkpoint.pt (or the folder holding it), file.py:factory, or a QONNX file.onnx",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--weights", default=None, help="state_dict .pt for a file.py:factory model")
    p.add_argument(
        "--input-shape",
        default=None,
        help="input shape without batch for a factory model, e.g. 1,28,28",
    )
    p.add_argument(
        "--input-datatype", default="UINT8", help="QONNX datatype of the input (default UINT8)"
    )
    add_force_arg(p)
    return p


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    from fewerbits.export.exporter import ExportOptionError

    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ExportOptionError(f"--input-shape {text!r}: expected integers like 1,28,28") from None
    if not shape or min(shape) < 1:
        raise ExportOptionError(f"--input-shape {text!r}: expected positive integers like 1,28,28")
    return shape


def main(a: argparse.Namespace) -> int:
    from fewerbits.export.exporter import MODEL_ONNX, ExportError, ExportOptionError, export

    spec = a.model
    if spec.endswith(".pt") or Path(spec).is_dir():
        if a.weights:
            raise ExportOptionError("--weights is only for file.py:factory models")
        source = {"checkpoint": spec}
    elif ".py:" in spec:
        source = {"factory": spec, "weights": a.weights}
    elif spec.endswith(".onnx"):
        if a.weights or a.input_shape:
            raise ExportOptionError(
                "--weights and --input-shape are only for file.py:factory models"
            )
        source = {"qonnx": spec}
    else:
        raise ExportError(
            f"{spec!r}: give a checkpoint.pt (or its folder), file.py:factory or a QONNX .onnx"
        )
    shape = parse_shape(a.input_shape)
    # a batch dimension of 1 in --input-shape is accepted and dropped: 1,1,28,28 == 1,28,28
    if shape is not None and "factory" in source and len(shape) in (2, 4) and shape[0] == 1:
        shape = shape[1:]
    info = export(source, Path(a.out), shape, input_dtype=a.input_datatype, force=a.force)
    if not info["verification"]:
        print(f"wrote {Path(a.out) / MODEL_ONNX}; {info['check_inputs']}")
        return 0
    check = info["verification"][0]
    how = check["status"]
    resolved = len(check.get("resolved_samples") or [])
    if check["status"] == "pass" and check["bit_exact"] + resolved < check["samples"]:
        how = (
            f"pass: the rest within the derived float-tail bound <= {check['tail_bound']:.3g}"
            if check.get("tail_bound") is not None
            else f"pass: the rest within {check['ulp_bound']} ULP"
        )
    if resolved and check["status"] == "pass":
        how += (
            f"; {resolved} at a float32 rounding tie in PyTorch, exact with its integers "
            "pinned (export.json: reason)"
        )
    if check["status"] == "fail" and check.get("reason"):
        how += f": {check['reason']}"
    print(
        f"wrote {Path(a.out) / MODEL_ONNX}; PyTorch vs QONNX on {check['samples']} inputs: "
        f"{check['bit_exact']}/{check['samples']} bit-exact ({how})"
    )
    return 0 if check["status"] == "pass" else 1
