"""Level ``qonnx``: the exported QONNX graph executed by qonnx's reference executor.

It is also the trace reference: its activation quantizers' integer levels are what every FINN
graph's thresholding nodes must hold.
"""

from __future__ import annotations

import numpy as np

from fewerbits.core.float_tail import context_tail_bound, pre_quant_error
from fewerbits.export.exporter import execute_qonnx, layer_names
from fewerbits.export.trace import PinResult, act_calls, pinned_check

from ..ladder import level_codes, paired
from ..level import ActivationTrace, Level, register_level


def act_quant_nodes(wrapper) -> list:
    """The activation quantizers (Quant/BipolarQuant on a non-constant tensor), in order."""
    return [
        n
        for n in wrapper.graph.node
        if n.op_type in ("Quant", "BipolarQuant")
        and wrapper.get_initializer(n.input[0]) is None
        and wrapper.get_initializer(n.output[0]) is None
    ]


def _lowest_level(wrapper, node) -> int:
    """The lowest integer level of an activation quantizer (-1 for bipolar)."""
    if node.op_type != "Quant":
        return -1
    attrs = {a.name: a.i for a in node.attribute if a.name in ("signed", "narrow")}
    bits = int(np.asarray(wrapper.get_initializer(node.input[3])).item())
    signed, narrow = attrs.get("signed", 1), attrs.get("narrow", 0)
    return -(2 ** (bits - 1)) + narrow if signed else 0


@register_level
class QonnxLevel(Level):
    """The exported QONNX graph executed by qonnx's reference executor."""

    name = "qonnx"
    needs = "export"
    rank = 10
    can_trace = True

    def __init__(self, export, build=None) -> None:
        self.model_onnx = export.model
        self._last: tuple[np.ndarray, np.ndarray] | None = None  # (inputs, outputs)
        self._w = None

    def available(self) -> str | None:
        return None if self.model_onnx.is_file() else f"{self.model_onnx} not found"

    def _wrapper(self):
        from qonnx.core.modelwrapper import ModelWrapper  # lazy: qonnx import takes seconds

        if self._w is None:  # read once: the ladder traces every sample
            self._w = ModelWrapper(str(self.model_onnx))
        return self._w

    def run(self, x: np.ndarray) -> np.ndarray:
        """qonnx's outputs; the same input array again (the reference resolution, then the
        ladder: fewerbits/verify/directory.py) is not executed twice."""
        if self._last is not None and self._last[0] is x:
            return self._last[1]
        out = execute_qonnx(self._wrapper(), x)
        self._last = (x, out)
        return out

    def trace(self, x1: np.ndarray, bounds: bool = True) -> list[ActivationTrace]:
        """Every activation quantizer's integer levels on one sample, with (``bounds``) the
        value it rounds and that value's derived float32 error, in levels."""
        from qonnx.core.onnx_exec import execute_onnx  # lazy: qonnx import takes seconds

        w = self._wrapper()
        ctx = execute_onnx(
            w, {w.graph.input[0].name: x1.astype(np.float32)}, return_full_exec_context=True
        )
        out = []
        layers = layer_names(w)
        for n in act_quant_nodes(w):
            scale = np.asarray(w.get_initializer(n.input[1]), dtype=np.float32)
            codes = np.round(ctx[n.output[0]] / scale)
            lowest = _lowest_level(w, n)
            err = pre_quant_error(w, ctx, n) if bounds and n.op_type == "Quant" else None
            trace = ActivationTrace(n.name, codes, lowest=lowest, layer=layers.get(n.name))
            if err is not None:
                trace.pre = np.asarray(ctx[n.input[0]], np.float64) / scale
                trace.slack = err / np.abs(scale)
            out.append(trace)
        return out

    def trace_codes(self, x1: np.ndarray) -> list[ActivationTrace]:
        return self.trace(x1, bounds=False)

    def layer_of(self, node: str) -> str:
        """The user's layer name of a quantizer node (the node name if not recorded)."""
        return layer_names(self._wrapper()).get(node, node)

    def pin(self, x1: np.ndarray, got: list[ActivationTrace], out1: np.ndarray) -> PinResult:
        """Decide a sample a level computes differently by executing this graph with the
        level's integers pinned where they differ from its own only by a float32 rounding at a
        boundary (export/trace.py ``pinned_check``, the same rule as PyTorch's ties): every
        later integer must then be equal and the level's output ``out1`` within the derived
        float-tail bound of the pinned graph's."""
        w = self._wrapper()
        names = act_calls(w)
        if not names:
            return PinResult(False, why="no quantizer call order recorded at export")
        pairs = {r.node: (r, g) for r, g in paired(self.trace(x1), got)}
        acts: list[np.ndarray | None] = []
        for name in names:
            if name not in pairs:
                acts.append(None)  # removed by the build (an identity input threshold)
                continue
            codes = level_codes(*pairs[name])
            if codes is None:
                return PinResult(False, node=name, why="tensor shapes cannot be aligned")
            node = w.get_node_from_name(name)
            scale = w.get_initializer(node.input[1]) if node.op_type == "Quant" else 1.0
            acts.append((codes * np.asarray(scale, np.float64)).astype(np.float32))
        p = pinned_check(w, x1.astype(np.float32), acts, layer_names(w))
        if p.ok:
            o = np.asarray(out1, np.float64).reshape(np.shape(p.output))
            bound = context_tail_bound(w, p.ctx, p.output)
            p.ok = bool(np.all(np.abs(o - p.output) <= (0.0 if bound is None else bound)))
            if not p.ok:
                p.why = "with the level's ties pinned the output is beyond the float-tail bound"
        p.ctx = None
        return p
