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


def quant1d() -> ModelWrapper:
    """A per-tensor unsigned 8-bit activation quantizer on an unannotated [1, 2, 8] input (a
    Conv1d net's input QuantIdentity), converted by FINN's ConvertQONNXtoFINN: a
    MultiThreshold that inherits the guessed input layout (qonnx: "Assuming 3D input is NWC")."""
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    node = helper.make_node(
        "Quant",
        ["x", "s", "z", "b"],
        ["y"],
        domain="qonnx.custom_op.general",
        signed=0,
        narrow=0,
        rounding_mode="ROUND",
    )
    g = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 8])],
    )
    m = ModelWrapper(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]))
    for name, v in (("s", 0.5), ("z", 0.0), ("b", 8.0)):
        m.set_initializer(name, np.array(v, dtype=np.float32))
    m = m.transform(InferShapes()).transform(InferDataTypes())
    return m.transform(ConvertQONNXtoFINN())


def _thresholding(m: ModelWrapper) -> ModelWrapper:
    from finn.transformation.fpgadataflow.convert_to_hw.thresholding import InferThresholdingLayer

    return m.transform(InferThresholdingLayer())


def _mt_layout(m: ModelWrapper) -> str:
    (mt,) = [n for n in m.graph.node if n.op_type == "MultiThreshold"]
    return get_by_name(mt.attribute, "data_layout").s.decode()


def test_qonnx_leaves_3d_layouts_on_4d_tensors():
    """Bare Change3DTo4DTensors: the [1, 2, 8, 1] input stays annotated NWC and the
    MultiThreshold ``data_layout="NWC"``, so FINN's InferThresholdingLayer builds it in place on
    the channels-first tensor (no transpose to channels-last: the conv's layout transpose then
    stays behind it in hardware, a Shuffle)."""
    m = quant1d()
    assert _mt_layout(m) == "NWC"
    m = m.transform(Change3DTo4DTensors())
    assert m.get_tensor_shape("x") == [1, 2, 8, 1]
    assert m.get_tensor_layout("x") == ["N", "W", "C"], "qonnx fixed? drop fix_4d_layouts"
    assert _mt_layout(m) == "NWC"
    ops = [n.op_type for n in _thresholding(m).graph.node]
    assert ops == ["Thresholding", "Mul"], ops  # the scale Mul: streamlining absorbs it


def test_workaround_annotates_nchw_so_finn_moves_the_transpose():
    m = quant1d().transform(Change3DTo4DTensorsWithPoolDilations())
    assert m.get_tensor_layout("x") == ["N", "C", "H", "W"]
    assert _mt_layout(m) == "NCHW"
    hw = _thresholding(m)
    ops = [n.op_type for n in hw.graph.node]
    assert ops == ["Transpose", "Thresholding", "Transpose", "Mul"], ops
    # k/2 + 0.1: x/0.5 = k + 0.2, no rounding ties (thresholds round half up, Brevitas to even)
    x = np.random.default_rng(0).integers(0, 256, (1, 2, 8, 1)).astype(np.float32) / 2 + 0.1
    from qonnx.core.onnx_exec import execute_onnx

    ref = execute_onnx(m, {"x": x})["y"]  # the MultiThreshold on NCHW
    assert np.array_equal(ref, np.clip(np.round(x / 0.5), 0, 255) * 0.5)
