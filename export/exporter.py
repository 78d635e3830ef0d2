"""Brevitas model -> QONNX (model.onnx) with the input datatype annotated, plus export.json."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from fewerbits.errors import FewerbitsError

MODEL_ONNX = "model.onnx"
EXPORT_JSON = "export.json"


class ExportError(FewerbitsError):
    """A model that cannot be exported to a deployable QONNX graph."""


def export_qonnx(
    model: nn.Module, input_shape: tuple[int, ...], out_file: Path, input_dtype: str = "UINT8"
):
    """Export with Brevitas, clean up with qonnx, annotate the input datatype; return ModelWrapper."""
    from brevitas.export import export_qonnx as brevitas_export_qonnx
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    model.eval()
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        brevitas_export_qonnx(model, torch.zeros(1, *input_shape), export_path=str(raw))
        wrapper = cleanup_model(ModelWrapper(str(raw)))
    wrapper.set_tensor_datatype(wrapper.graph.input[0].name, DataType[input_dtype])
    tmp_out = out_file.with_suffix(".onnx.tmp")
    wrapper.save(str(tmp_out))
    tmp_out.replace(out_file)
    return wrapper


def graph_summary(wrapper) -> dict:
    """Opset, node counts and I/O shapes/datatypes of a (Q)ONNX model."""
    g = wrapper.graph
    inp, outp = g.input[0].name, g.output[0].name
    return {
        "opset": max(
            (o.version for o in wrapper.model.opset_import if o.domain in ("", "ai.onnx")),
            default=None,
        ),
        "nodes": dict(sorted(Counter(n.op_type for n in g.node).items())),
        "input": {
            "name": inp,
            "shape": list(wrapper.get_tensor_shape(inp)),
            "datatype": wrapper.get_tensor_datatype(inp).name,
        },
        "output": {
            "name": outp,
            "shape": list(wrapper.get_tensor_shape(outp)),
            "datatype": wrapper.get_tensor_datatype(outp).name,
        },
    }


def execute_qonnx(wrapper, x: np.ndarray) -> np.ndarray:
    """Run a QONNX model on a batch with qonnx's executor (one sample at a time)."""
    from qonnx.core.onnx_exec import execute_onnx

    iname, oname = wrapper.graph.input[0].name, wrapper.graph.output[0].name
    outs = [
        execute_onnx(wrapper, {iname: x[i : i + 1].astype(np.float32)})[oname]
        for i in range(len(x))
    ]
    return np.concatenate(outs, axis=0)
