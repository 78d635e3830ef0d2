"""`fewerbits export`: checkpoint -> QONNX model.onnx, export.json."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("export", help="checkpoint -> QONNX model.onnx, export.json")
    p.add_argument("checkpoint", help="checkpoint.pt or the folder holding it")
    p.add_argument("--out", required=True)
    return p


def main(a: argparse.Namespace) -> int:
    from fewerbits.config import write_json
    from fewerbits.export.exporter import EXPORT_JSON, MODEL_ONNX, export_qonnx, graph_summary
    from fewerbits.train.trainer import load_checkpoint

    model, ckpt = load_checkpoint(Path(a.checkpoint))
    w = export_qonnx(model, tuple(ckpt["input_shape"]), Path(a.out) / MODEL_ONNX)
    write_json(Path(a.out) / EXPORT_JSON, graph_summary(w))
    print(f"wrote {Path(a.out) / MODEL_ONNX}")
    return 0
