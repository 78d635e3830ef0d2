"""qonnx 1.0.0 does not fold constant nodes with an empty optional input (compat/qonnx/fold.py)."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.fold_constants import FoldConstants

from fewerbits.compat.qonnx.fold import FoldConstantsWithOptionalInputs


def clip_chain() -> ModelWrapper:
    """w -> Clip(w, lo, '') -> Mul(., 2) -> Add(x, .): what Brevitas' TorchScript export emits
    for a DoReFa weight pre-processing chain."""
    nodes = [
        helper.make_node("Clip", ["w", "lo", ""], ["wc"]),
        helper.make_node("Mul", ["wc", "two"], ["wm"]),
        helper.make_node("Add", ["x", "wm"], ["y"]),
    ]
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    m = ModelWrapper(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]))
    m.set_initializer("w", np.array([-3, -1, 0.5, 2], dtype=np.float32))
    m.set_initializer("lo", np.array(-1, dtype=np.float32))
    m.set_initializer("two", np.array(2, dtype=np.float32))
    return m


def test_qonnx_fold_constants_skips_empty_optional_input():
    folded = clip_chain().transform(FoldConstants())
    assert [n.op_type for n in folded.graph.node] == ["Clip", "Mul", "Add"], (
        "qonnx fixed? drop compat/qonnx/fold.py"
    )


def test_workaround_folds_the_chain():
    m = clip_chain().transform(FoldConstantsWithOptionalInputs())
    assert [n.op_type for n in m.graph.node] == ["Add"]
    assert np.array_equal(
        m.get_initializer(m.graph.node[0].input[1]), np.array([-2, -2, 1, 4], dtype=np.float32)
    )
