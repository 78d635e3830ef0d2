"""hw/deploy.py: host pre/post-processing exported from the graph == ONNX execution; refusal of
what the driver cannot run on the host; builds without a dataflow partition."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fewerbits.hw.deploy import DeployError, _ancestors, _descendants, host_op, write_deploy_package
from fewerbits.hw.driver import hostops
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.infer_shapes import InferShapes


def graph(pre_extra=None) -> ModelWrapper:
    """X -> Transpose -> Mul -> Sub -> Reshape -> [Relu = the 'accelerator'] -> Div -> Add -> Flatten -> Y"""
    f = TensorProto.FLOAT
    rng = np.random.default_rng(0)
    inits = {
        "c_mul": rng.standard_normal((1, 4, 4, 3)).astype(np.float32),
        "c_sub": np.array([0.5], np.float32),
        "c_shape": np.array([1, 48], np.int64),
        "c_div": np.array([3.0], np.float32),
        "c_add": rng.standard_normal((1, 48)).astype(np.float32),
    }
    nodes = [
        helper.make_node("Transpose", ["X"], ["t1"], perm=[0, 2, 3, 1], name="Transpose_0"),
        helper.make_node("Mul", ["c_mul", "t1"], ["t2"], name="Mul_0"),
        helper.make_node("Sub", ["t2", "c_sub"], ["t3"], name="Sub_0"),
        helper.make_node("Reshape", ["t3", "c_shape"], ["hw_in"], name="Reshape_0"),
        helper.make_node("Relu", ["hw_in"], ["hw_out"], name="Accel"),
        helper.make_node("Div", ["hw_out", "c_div"], ["t4"], name="Div_0"),
        helper.make_node("Add", ["t4", "c_add"], ["t5"], name="Add_0"),
        helper.make_node("Flatten", ["t5"], ["Y"], axis=1, name="Flatten_0"),
    ]
    if pre_extra:
        nodes[0] = helper.make_node(
            "Transpose", ["X"], ["t0"], perm=[0, 2, 3, 1], name="Transpose_0"
        )
        nodes.insert(1, helper.make_node(pre_extra, ["t0"], ["t1"], name=f"{pre_extra}_0"))
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", f, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("Y", f, [1, 48])],
        [
            helper.make_tensor(
                k, TensorProto.INT64 if v.dtype == np.int64 else f, v.shape, v.ravel()
            )
            for k, v in inits.items()
        ],
    )
    m = ModelWrapper(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]))
    return m.transform(InferShapes())


def test_host_ops_equal_onnx_execution():
    m = graph()
    pre = [host_op(m, n) for n in _ancestors(m, "hw_in")]
    post = [host_op(m, n) for n in _descendants(m, "hw_out")]
    assert [o["op"] for o in pre] == ["transpose", "mul", "sub", "reshape"]
    assert [o["op"] for o in post] == ["div", "add", "flatten"]
    x = np.random.default_rng(1).standard_normal((1, 3, 4, 4)).astype(np.float32)
    ctx = execute_onnx(m, {"X": x}, return_full_exec_context=True)
    got_in = hostops.apply_ops(pre, x)
    np.testing.assert_array_equal(got_in.view(np.int32), ctx["hw_in"].view(np.int32))
    got_out = hostops.apply_ops(post, ctx["hw_out"])
    np.testing.assert_array_equal(got_out.view(np.int32), ctx["Y"].view(np.int32))
    # a batch runs through the same ops (the batch dimension follows the data)
    xb = np.concatenate([x, 2 * x])
    assert hostops.apply_ops(pre, xb).shape == (2, 48)
    # the ops survive settings.json (JSON floats round-trip float32 exactly)
    pre_json = json.loads(json.dumps(pre))
    np.testing.assert_array_equal(hostops.apply_ops(pre_json, x), got_in)


def test_unsupported_host_node_refused_in_one_line():
    m = graph(pre_extra="Relu")
    with pytest.raises(
        DeployError, match=r"node Relu_0 \(Relu\) runs outside the accelerator"
    ) as e:
        [host_op(m, n) for n in _ancestors(m, "hw_in")]
    assert "\n" not in str(e.value)


def test_build_without_partition_has_no_package(tmp_path):
    (tmp_path / "steps.json").write_text(json.dumps({"ran": [{"step": "step_qonnx_to_finn"}]}))
    assert write_deploy_package(tmp_path) is None
    assert not (tmp_path / "deploy").exists()


def test_demo_package_rewritten_atomically(demo_run):
    build = demo_run / "build"
    first = json.loads((build / "deploy" / "settings.json").read_text())
    out = write_deploy_package(build)
    assert out == build / "deploy" and not (build / "deploy.tmp").exists()
    again = json.loads((out / "settings.json").read_text())
    assert again["accelerator"] == first["accelerator"] and again["files"] == first["files"]
    assert again["hw_nodes"][0].endswith(("_hls", "_rtl"))
