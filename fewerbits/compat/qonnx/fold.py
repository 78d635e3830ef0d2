"""Workaround for qonnx 1.0.0's FoldConstants on nodes with an empty optional input.

Symptom (qonnx 1.0.0, with Brevitas 0.13.4's TorchScript QONNX export): a ``Clip`` with an
omitted optional input (``""``) counts as having a dynamic input, so ``FoldConstants`` (run by
``cleanup_model``) never folds it, nor the constant ``Div``/``Mul`` chain after it. A DoReFa
weight quantizer then exports as ``Clip -> Div -> Mul -> Quant`` on constant weights instead of
a plain weight ``Quant``, which FINN's streamlining does not expect. We fold every node whose
present inputs are all constants (Quant/BipolarQuant excluded, as qonnx does).
Test: tests/test_compat_qonnx_fold.py.
"""

from __future__ import annotations

from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_shapes import InferShapes

KEEP = ("Quant", "BipolarQuant", "Trunc", "MultiThreshold")


class FoldConstantsWithOptionalInputs(Transformation):
    """Fold nodes whose non-empty inputs are all initializers (one pass; compose to a fixpoint)."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        opset = model.model.opset_import[0].version
        changed = False
        for node in list(model.graph.node):
            present = [i for i in node.input if i]
            if node.op_type in KEEP or not present:
                continue
            if any(model.get_initializer(i) is None for i in present):
                continue
            model.set_initializer(node.output[0], _evaluate(model, node, present, opset))
            model.graph.node.remove(node)
            changed = True
        if changed:
            model = model.transform(InferShapes())
        return model, changed


def _evaluate(model: ModelWrapper, node, present: list[str], opset: int):
    """One standard ONNX node on constant inputs, with onnx's reference evaluator (which, unlike
    qonnx's single-node execution, accepts omitted optional inputs)."""
    inits = [numpy_helper.from_array(model.get_initializer(i), i) for i in present]
    g = helper.make_graph(
        [node], "fold", [], [helper.make_empty_tensor_value_info(node.output[0])], inits
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    return ReferenceEvaluator(m).run(None, {})[0]
