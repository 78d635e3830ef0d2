"""Level ``onnxruntime``: QONNX converted to standard QuantizeLinear/DequantizeLinear ops, run
by onnxruntime with all graph optimisations off (it executes the graph as written: an
executor independent of qonnx's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..level import Level, register_level


def qonnx_to_standard_onnx(model_onnx: Path):
    """QONNX -> standard ONNX for onnxruntime: weight quantizers folded into float initializers,
    activation ``Quant`` nodes -> QuantizeLinear/Clip/DequantizeLinear (qonnx ``QuantToQCDQ``),
    and ``BipolarQuant`` -> ``Where(x >= 0, s, -s)`` (QCDQ has no bipolar type).
    Returns ``(onnx ModelProto, reason)``; reason is set if some node cannot be expressed."""
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.qonnx_to_qcdq import QuantToQCDQ

    w = ModelWrapper(str(model_onnx))
    w = w.transform(InferShapes()).transform(FoldConstants())
    w = w.transform(QuantToQCDQ())
    g = w.graph
    for n in list(g.node):
        if n.op_type != "BipolarQuant":
            continue
        s = np.asarray(w.get_initializer(n.input[1]), dtype=np.float32)
        zero, pos, neg, cond = (w.make_new_valueinfo_name() for _ in range(4))
        w.set_initializer(zero, np.zeros((), dtype=np.float32))
        w.set_initializer(pos, s)
        w.set_initializer(neg, -s)
        idx = list(g.node).index(n)
        g.node.insert(idx, helper.make_node("GreaterOrEqual", [n.input[0], zero], [cond]))
        g.node.insert(idx + 1, helper.make_node("Where", [cond, pos, neg], [n.output[0]]))
        g.node.remove(n)
    left = [n for n in g.node if n.domain not in ("", "ai.onnx")]
    if left:
        n = left[0]
        return None, (
            f"node {n.name} ({n.op_type}) has no standard ONNX form (QuantToQCDQ needs 2-8 bit "
            "ROUND quantizers)"
        )
    for vi in list(g.value_info):  # drop qonnx datatype-only annotations
        if vi.type.tensor_type.elem_type == 0:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT
    w.model.ClearField("metadata_props")
    for op in w.model.opset_import:
        if op.domain in ("", "ai.onnx") and op.version < 19:
            op.version = 19
    return w.model, None


@register_level
class OnnxRuntimeLevel(Level):
    """The QCDQ form of the QONNX model on onnxruntime's CPU provider."""

    name = "onnxruntime"
    needs = "export"
    rank = 20
    intermediates = "not observable at this level (the session returns only the output)"

    def __init__(self, export, build=None) -> None:
        self.model_onnx = export.model
        self._session = None
        self._why: str | None = None

    def _load(self) -> None:
        if self._session is not None or self._why is not None:
            return
        import onnxruntime as ort  # lazy: onnxruntime import takes a second

        if not self.model_onnx.is_file():
            self._why = f"{self.model_onnx} not found"
            return
        proto, why = qonnx_to_standard_onnx(self.model_onnx)
        if why:
            self._why = why
            return
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        so.intra_op_num_threads = 1
        so.log_severity_level = 3  # errors only: its warnings (unused initializers) are noise here
        self._session = ort.InferenceSession(
            proto.SerializeToString(), so, providers=["CPUExecutionProvider"]
        )

    def available(self) -> str | None:
        self._load()
        return self._why

    def run(self, x: np.ndarray) -> np.ndarray:
        self._load()
        sess = self._session
        iname = sess.get_inputs()[0].name
        return np.concatenate(
            [sess.run(None, {iname: x[i : i + 1].astype(np.float32)})[0] for i in range(len(x))]
        )
