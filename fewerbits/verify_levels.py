"""Concrete verification levels (PyTorch reference, QONNX executor, ...)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fewerbits.verify import FunctionLevel


def pytorch_reference(model, x: np.ndarray, batch: int = 500) -> np.ndarray:
    """The reference: the PyTorch model's float32 outputs."""
    import torch

    model.eval()
    with torch.no_grad():
        return np.concatenate(
            [model(torch.from_numpy(x[i : i + batch])).numpy() for i in range(0, len(x), batch)]
        )


def qonnx_level(model_onnx: Path) -> FunctionLevel:
    """QONNX graph executed by qonnx's reference executor."""
    from qonnx.core.modelwrapper import ModelWrapper

    from fewerbits.export.exporter import execute_qonnx

    wrapper = ModelWrapper(str(model_onnx))
    return FunctionLevel("qonnx", lambda x: execute_qonnx(wrapper, x))
