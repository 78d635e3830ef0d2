"""Workaround for qonnx 1.0.0's inference-cost analysis on binary (BipolarQuant) weights.

Symptom (qonnx 1.0.0): ``qonnx.util.inference_cost`` folds a weight ``BipolarQuant`` whose scale
is not 1 (Brevitas' default binary weight quantizer has scale 0.1, common in user models) into a
constant but loses its datatype, so binary weights are counted as FLOAT32 (``mem_w_FLOAT32``,
``op_mac_*_FLOAT32``) and ``BipolarQuant`` is reported as unsupported; a BinaryNet then costs as
much as the float model. We fold weight BipolarQuant nodes ourselves and annotate the result as
BIPOLAR before the analysis. Test: tests/test_energy.py::test_bipolar_weights_counted_as_binary.
"""

from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation


class FoldBipolarWeights(Transformation):
    """Replace BipolarQuant nodes on constant weights by their BIPOLAR-annotated {-1, +1} values."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        changed = False
        for node in list(model.graph.node):
            if node.op_type != "BipolarQuant":
                continue
            weights = model.get_initializer(node.input[0])
            if weights is None:
                continue  # an activation quantizer: its datatype is inferred correctly
            # only the bit width matters for the cost; a per-tensor scale is a free re-scaling
            values = np.where(weights >= 0, 1.0, -1.0).astype(np.float32)
            model.set_initializer(node.output[0], values)
            model.set_tensor_datatype(node.output[0], DataType["BIPOLAR"])
            model.graph.node.remove(node)
            changed = True
        return model, changed
