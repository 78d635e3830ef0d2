"""A FINN level's own integers at a float32 rounding tie (fewerbits/verify/ladder.py
``_resolve_ties``, the trace reference's ``pin``): a one-level difference where qonnx's value
sits within its derived float32 error of the boundary is decided by executing the QONNX graph
with the level's integer pinned; everything after must then be equal.

The graph is a real two-layer QONNX model executed by qonnx; the level is its integer tensors
as a FINN level holds them (tagged by quantizer, hw/build/quant_tags.py), with the tie rounded
the other way, as FINN's exact-rational thresholds do (8.500002 levels -> 8, float32 -> 9)."""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper

from fewerbits.core.artifacts import ExportDir
from fewerbits.verify.ladder import run_ladder
from fewerbits.verify.level import ActivationTrace, Level

W1 = np.array([[1.0, 0.0, 0.001], [-1.0, 0.0025, 0.0]], np.float32)
W2 = np.array([[0.5, 1.0], [1.0, 0.0], [0.25, 0.5]], np.float32)
S1, S2 = np.float32(0.5), np.float32(0.25)
#: element 0 of the first quantizer: (1004.25006 - 1000) / 0.5 = 8.50012 levels, within the
#: MatMul's float32 error of the 8|9 boundary (its terms are ~1000); element 2: 2.0085 levels,
#: far from any
X = np.array([[np.nextafter(np.float32(1004.25), np.float32(np.inf)), 1000.0]], np.float32)


def _model(d, w3: np.ndarray | None = None) -> ExportDir:
    """x -> MatMul W1 -> Quant_1 -> MatMul W2 -> Quant_2 [-> MatMul ``w3`` -> Quant_3]."""

    def init(name, v):
        return helper.make_tensor(name, TensorProto.FLOAT, np.shape(v), np.ravel(v).tolist())

    q = {"domain": "qonnx.custom_op.general", "signed": 0, "narrow": 0, "rounding_mode": "ROUND"}
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["a"], name="MatMul_0"),
        helper.make_node("Quant", ["a", "s1", "z", "b"], ["qa"], name="Quant_1", **q),
        helper.make_node("MatMul", ["qa", "w2"], ["c"], name="MatMul_1"),
        helper.make_node("Quant", ["c", "s2", "z", "b"], ["qc"], name="Quant_2", **q),
    ]
    inits = [init("w1", W1), init("w2", W2), init("s1", S1), init("s2", S2)]
    inits += [init("z", np.float32(0)), init("b", np.float32(6))]
    quants, mids = ["Quant_1", "Quant_2"], [("a", [1, 3]), ("qa", [1, 3]), ("c", [1, 2])]
    if w3 is None:
        nodes[-1].output[0] = "y"
    else:
        nodes += [
            helper.make_node("MatMul", ["qc", "w3"], ["e"], name="MatMul_2"),
            helper.make_node("Quant", ["e", "s2", "z", "b"], ["y"], name="Quant_3", **q),
        ]
        inits.append(init("w3", w3))
        quants.append("Quant_3")
        mids += [("qc", [1, 2]), ("e", [1, w3.shape[1]])]
    out_shape = [1, 2 if w3 is None else w3.shape[1]]
    graph = helper.make_graph(
        nodes,
        "ties",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        inits,
        value_info=[helper.make_tensor_value_info(t, TensorProto.FLOAT, sh) for t, sh in mids],
    )
    opsets = [helper.make_opsetid("", 13), helper.make_opsetid("qonnx.custom_op.general", 1)]
    m = helper.make_model(graph, opset_imports=opsets)
    for k, v in {
        "fewerbits.act_calls": quants,
        "fewerbits.layer_names": {f"Quant_{i}": f"fc{i}.act_quant" for i in (1, 2, 3)},
    }.items():
        m.graph.metadata_props.add(key=k, value=json.dumps(v))  # where qonnx keeps them
    (d / "model.onnx").write_bytes(m.SerializeToString())
    onnx.checker.check_model(m)
    return ExportDir(d)


class IntegerLevel(Level):
    """A level holding the given integers of both quantizers (as a FINN level would)."""

    name = "streamlined"
    can_trace = True

    def __init__(self, *q) -> None:
        self.q = [np.array([qi], np.float64) for qi in q]

    def run(self, x):
        return (self.q[-1] * S2).astype(np.float32)

    def trace(self, x1):
        return [
            ActivationTrace(f"MultiThreshold_{i}", qi, dtype="UINT6", tag=f"Quant_{i + 1}")
            for i, qi in enumerate(self.q)
        ]


def test_a_level_rounding_a_tie_the_other_way_passes_only_if_everything_after_follows(tmp_path):
    from fewerbits.verify.levels.qonnx import QonnxLevel

    qonnx = QonnxLevel(_model(tmp_path))
    ref = qonnx.run(X)
    trace = qonnx.trace(X)
    codes = [t.codes[0] for t in trace]
    assert codes[0][0] == 9 and 0 < trace[0].pre[0, 0] - 8.5 <= trace[0].slack[0, 0], trace[0]

    def ladder(q1, q2=None):
        if q2 is None:  # the next layer computed from q1 (as the level would)
            q2 = np.clip(np.round((q1 * S1) @ W2 / S2), 0, 63)
        return run_ladder(ref, X, [IntegerLevel(q1, q2)], trace_reference=qonnx)[0]

    assert ladder(codes[0]).status == "pass"
    # the tie rounded down (8, as the exact rational thresholds do), the next layer from 8
    q1 = codes[0].copy()
    q1[0] = 8
    res = ladder(q1)
    assert res.status == "pass", res.reason
    assert "fc1.act_quant (1)" in res.reason, res.reason
    # ... but a next layer that does not follow from 8 is a real difference
    q2 = np.clip(np.round((q1 * S1) @ W2 / S2), 0, 63)
    q2[1] += 1
    res = ladder(q1, q2)
    assert res.status == "fail", res.reason
    # a one-level difference far from a boundary (2.0085 -> 3) is never a tie
    q1 = codes[0].copy()
    q1[2] += 1
    res = ladder(q1)
    assert res.status == "fail", res.reason


class OutputLevel(Level):
    """A level that only gives outputs (as rtl_stitched: no integer tensors to trace)."""

    name = "rtl_stitched"
    can_trace = False

    def __init__(self, y) -> None:
        self.y = np.asarray(y, np.float32)

    def run(self, x):
        return self.y


def test_an_output_only_level_at_a_tie_passes_only_with_the_settled_levels_output(tmp_path):
    """rtl_stitched cannot be traced: on a sample the FINN level before it passed with its tie
    pinned, it passes only if its output is bit-identical to that level's."""
    from fewerbits.verify.levels.qonnx import QonnxLevel

    qonnx = QonnxLevel(_model(tmp_path))
    ref = qonnx.run(X)
    q1 = qonnx.trace(X)[0].codes[0].copy()
    q1[0] = 8  # the tie rounded the other way, the next layer following from it
    q2 = np.clip(np.round((q1 * S1) @ W2 / S2), 0, 63)
    finn = IntegerLevel(q1, q2)
    same, other = finn.run(X), finn.run(X).copy()
    other[0, 1] += S2  # one more level of the last layer
    assert run_ladder(ref, X, [OutputLevel(same)], trace_reference=qonnx)[0].status == "fail"
    res = run_ladder(ref, X, [finn, OutputLevel(same)], trace_reference=qonnx)
    assert [r.status for r in res] == ["pass", "pass"], res[1].reason
    assert "bit-identical to streamlined's output" in res[1].reason
    res = run_ladder(ref, X, [finn, OutputLevel(other)], trace_reference=qonnx)
    assert res[1].status == "fail"


def test_later_integers_following_a_tie_on_a_sample_within_the_bound(tmp_path):
    """The output hides the tie (the last layer rounds both ways to the same integers) and is
    within the ULP bound of PyTorch's (one ULP off here), but the middle layer's integers follow
    from the tie rounded the other way: decided with the level's integers pinned, it passes;
    a middle layer that does not follow still fails."""
    from fewerbits.verify.levels.qonnx import QonnxLevel

    w3 = np.array([[0.01], [0.01]], np.float32)
    qonnx = QonnxLevel(_model(tmp_path, w3))
    ref = qonnx.run(X)
    q1 = qonnx.trace(X)[0].codes[0].copy()
    q1[0] = 8  # the tie rounded down, as the exact thresholds do
    q2 = np.clip(np.round((q1 * S1) @ W2 / S2), 0, 63)
    q3 = np.clip(np.round((q2 * S2) @ w3 / S2), 0, 63)
    assert not np.array_equal(q2, qonnx.trace(X)[1].codes[0])  # the middle layer follows
    assert np.array_equal(q3 * S2, ref[0])  # the output does not show it
    pytorch = np.nextafter(ref, np.float32(np.inf))  # a float32 difference of PyTorch's
    res = run_ladder(pytorch, X, [IntegerLevel(q1, q2, q3)], trace_reference=qonnx)[0]
    assert res.status == "pass" and res.integers["tied_samples"] == [0], res.reason
    assert "ties pinned" in res.integers["summary"], res.integers
    wrong = q2.copy()
    wrong[0] += 1
    res = run_ladder(pytorch, X, [IntegerLevel(q1, wrong, q3)], trace_reference=qonnx)[0]
    assert res.status == "fail" and res.node == "MultiThreshold_1", res.reason
