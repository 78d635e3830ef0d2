"""qonnx 1.0.0's Change3DTo4DTensors leaves a 1-D MaxPool's dilations 1-D
(compat/qonnx/change3d.py)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.change_3d_tensors_to_4d import Change3DTo4DTensors
from qonnx.util.basic import get_by_name

from fewerbits.compat.qonnx.change3d import Change3DTo4DTensorsWithPoolDilations


def pool1d() -> ModelWrapper:
    """MaxPool(kernel 2, stride 2, dilations [1]) on [1, 3, 8]: what torch exports for
    ``nn.MaxPool1d(2)``."""
    node = helper.make_node(
        "MaxPool", ["x"], ["y"], kernel_shape=[2], strides=[2], pads=[0, 0], dilations=[1]
    )
    g = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4])],
    )
    return ModelWrapper(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]))


def _run(m: ModelWrapper, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(m.model.SerializeToString())
    return sess.run(None, {"x": x})[0]


X = np.random.default_rng(0).standard_normal((1, 3, 8, 1)).astype(np.float32)


def test_qonnx_leaves_the_pool_dilations_1d():
    m = pool1d().transform(Change3DTo4DTensors())
    assert list(get_by_name(m.graph.node[0].attribute, "dilations").ints) == [1], (
        "qonnx fixed? drop compat/qonnx/change3d.py"
    )
    with pytest.raises(Exception, match="dilations has incorrect size"):
        _run(m, X)


def test_workaround_makes_a_2d_pool_onnxruntime_runs():
    m = pool1d().transform(Change3DTo4DTensorsWithPoolDilations())
    assert list(get_by_name(m.graph.node[0].attribute, "dilations").ints) == [1, 1]
    expect = X.reshape(1, 3, 4, 2).max(axis=3)[..., None]
    assert np.array_equal(_run(m, X), expect)
