"""A derived bound for the float tail of a quantized network's output.

Most quantized classifiers end in an integer accumulator turned into floats by a few constant
elementwise ops (the scales of the last MatMul's inputs, a bias, a TensorNorm/BatchNorm): PyTorch
evaluates ``((x_q @ W_q) * a + b) * c + d`` in float32 in one order, FINN re-associates the
constants (``acc * (a*c*s) + (b*c + d)``) and evaluates another. Both are within a computable
distance of the exact value, so instead of a fixed ULP count the level must agree with PyTorch
within

    bound = 2 * E + (k + 1) * u * |y|

per output element, where ``u = 2**-24`` (float32 unit roundoff), ``k`` the number of tail ops,
``y`` PyTorch's output, and ``E`` the first-order error of one float32 evaluation of the tail,
propagated from the reduction: ``E_0 = K * u * (|x_q| @ |W_q|)`` for a MatMul of length ``K``
(the float32 sum of K products), then per op on the actual intermediate ``v``: Mul by ``c``:
``E = E*|c| + u*|v*c|``; Div: ``E = E/|c| + u*|v/c|``; Add/Sub: ``E = E + u*|v ± c|``. The
``(k + 1) * u * |y|`` term covers FINN's float32 folding of the constants. A Gemm adds its
bias rounding; an inference BatchNormalization counts as a per-channel scale and shift (four
roundings). A tail of any other shape gives no bound (the ULP rule applies). The integer
activations themselves are still compared exactly (the ladder's trace check).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

U = float(np.finfo(np.float32).eps) / 2  # float32 unit roundoff, 2**-24
TAIL_OPS = ("Mul", "Add", "Sub", "Div")


@dataclass
class FloatTail:
    """The constant elementwise ops between the last reduction and the graph output (none
    when the output is the reduction itself, e.g. a Gemm with its bias)."""

    reduction: object  # the MatMul/Gemm node whose output the tail starts from
    ops: list  # (node, constant, constant is the first input) in evaluation order


def find_float_tail(wrapper) -> FloatTail | None:
    """The output's float tail in a QONNX graph, or None (output not a scaled reduction)."""
    tensor = wrapper.graph.output[0].name
    ops = []
    while True:
        node = wrapper.find_producer(tensor)
        if node is None:
            return None
        if node.op_type in ("MatMul", "Gemm"):  # the reduction (alone, or with a tail)
            return FloatTail(node, ops[::-1])
        if node.op_type == "BatchNormalization":
            params = [wrapper.get_initializer(i) for i in node.input[1:5]]
            if any(v is None for v in params):
                return None
            ops.append((node, None, False))
            tensor = node.input[0]
            continue
        if node.op_type not in TAIL_OPS or len(node.input) != 2:
            return None
        consts = [wrapper.get_initializer(i) for i in node.input]
        if (consts[0] is None) == (consts[1] is None):
            return None  # not exactly one constant input
        first = consts[0] is not None
        if first and node.op_type == "Div":
            return None  # c / v: not a scale (its error grows with 1/v)
        ops.append((node, np.asarray(consts[0] if first else consts[1], np.float64), first))
        tensor = node.input[1] if first else node.input[0]


def _attr(node, name: str, default: float) -> float:
    for a in node.attribute:
        if a.name == name:
            return a.f if a.type == 1 else a.i
    return default


def _reduction_error(node, ctx: dict) -> np.ndarray:
    """First-order error of one float32 MatMul/Gemm: K * u * (|A| @ |B|) (+ the bias add)."""
    a = np.abs(np.asarray(ctx[node.input[0]], np.float64))
    b = np.abs(np.asarray(ctx[node.input[1]], np.float64))
    if node.op_type == "Gemm":
        a = a.T if _attr(node, "transA", 0) else a
        b = b.T if _attr(node, "transB", 0) else b
    err = a.shape[-1] * U * (a @ b)
    if node.op_type == "Gemm" and len(node.input) > 2:
        err = err + U * np.abs(np.asarray(ctx[node.output[0]], np.float64))
    return err


def _batchnorm_error(wrapper, node, ctx: dict, err: np.ndarray) -> np.ndarray:
    """BatchNormalization (inference) as a per-channel scale and shift of its input, with the
    roundings of (v - mean), the scale, the multiply and the shift (4 ops)."""
    scale, _bias, _mean, var = (
        np.asarray(wrapper.get_initializer(i), np.float64) for i in node.input[1:5]
    )
    s = scale / np.sqrt(var + _attr(node, "epsilon", 1e-5))
    v_in = np.asarray(ctx[node.input[0]], np.float64)
    shape = (1, -1) + (1,) * (v_in.ndim - 2)
    y = np.abs(np.asarray(ctx[node.output[0]], np.float64))
    return err * np.abs(s.reshape(shape)) + 4 * U * (y + np.abs(v_in * s.reshape(shape)))


def _propagate(wrapper, node, c: np.ndarray | None, ctx: dict, err: np.ndarray) -> np.ndarray:
    """The error after one op of a tail or pre-quantizer chain, from the error before it (``c``
    the op's constant for Mul/Div/Add/Sub)."""
    v = np.abs(np.asarray(ctx[node.output[0]], np.float64))  # the op's result
    if node.op_type == "Relu":
        # 1-Lipschitz and exact; where this evaluation is further below zero than two
        # evaluations can differ (2E), both give exactly 0
        v_in = np.asarray(ctx[node.input[0]], np.float64)
        return np.where(v_in < -2 * err, 0.0, err)
    if node.op_type == "BatchNormalization":
        return _batchnorm_error(wrapper, node, ctx, err)
    if node.op_type == "Mul":
        return err * np.abs(c) + U * v
    if node.op_type == "Div":
        return err / np.abs(c) + U * v
    return err + U * v


def tail_bound(model, x: np.ndarray, reference: np.ndarray) -> np.ndarray | None:
    """Per-element absolute bound (shape of ``reference``) for the float tail, or None;
    ``model`` is a QONNX ModelWrapper or the path of one."""
    from qonnx.core.modelwrapper import ModelWrapper  # lazy: qonnx import takes seconds
    from qonnx.core.onnx_exec import execute_onnx

    w = model if isinstance(model, ModelWrapper) else ModelWrapper(str(model))
    tail = find_float_tail(w)
    if tail is None:
        return None
    iname = w.graph.input[0].name
    bounds = []
    for i in range(len(x)):
        ctx = execute_onnx(w, {iname: x[i : i + 1].astype(np.float32)}, True)
        bounds.append(_context_error(w, tail, ctx))
    err = np.concatenate(bounds).reshape(reference.shape)
    return 2 * err + (_tail_ops(tail) + 1) * U * np.abs(np.asarray(reference, np.float64))


def _context_error(w, tail: FloatTail, ctx: dict) -> np.ndarray:
    """E (see the module docstring) of one sample, from its full execution context."""
    err = _reduction_error(tail.reduction, ctx)
    for node, c, _first in tail.ops:
        err = _propagate(w, node, c, ctx, err)
    return np.broadcast_to(err, np.asarray(ctx[w.graph.output[0].name]).shape)


def _tail_ops(tail: FloatTail) -> int:
    return len(tail.ops) + 3 * sum(n.op_type == "BatchNormalization" for n, _, _ in tail.ops)


def context_tail_bound(w, ctx: dict, reference: np.ndarray) -> np.ndarray | None:
    """:func:`tail_bound` of one sample whose execution context ``ctx`` is given (e.g. one
    executed with some tensors pinned: export/trace.py)."""
    tail = find_float_tail(w)
    if tail is None:
        return None
    err = _context_error(w, tail, ctx).reshape(np.shape(reference))
    return 2 * err + (_tail_ops(tail) + 1) * U * np.abs(np.asarray(reference, np.float64))


# ---- activation quantizers: how close to a rounding boundary the reference's value may be ----

#: ops between a reduction and an activation quantizer through which the error is propagated
_PRE_QUANT_OPS = ("Relu", *TAIL_OPS, "BatchNormalization")


def _ints(node, name: str, default: list[int]) -> list[int]:
    for a in node.attribute:
        if a.name == name:
            return list(a.ints)
    return default


def _conv_abs(node, ctx: dict) -> np.ndarray:
    """|x| conv |w| (no bias) with the node's strides, pads, dilations and groups, in float64."""
    import torch  # lazy: torch import takes seconds
    import torch.nn.functional as F

    x = torch.from_numpy(np.abs(np.asarray(ctx[node.input[0]], np.float64)))
    w = torch.from_numpy(np.abs(np.asarray(ctx[node.input[1]], np.float64)))
    nd = w.ndim - 2
    pads = _ints(node, "pads", [0] * (2 * nd))
    # ONNX pads are (begin..., end...); F.pad wants (last-dim begin, last-dim end, ...)
    torch_pads = [p for i in reversed(range(nd)) for p in (pads[i], pads[i + nd])]
    x = F.pad(x, torch_pads)
    conv = F.conv2d if nd == 2 else F.conv1d
    y = conv(
        x,
        w,
        stride=_ints(node, "strides", [1] * nd),
        dilation=_ints(node, "dilations", [1] * nd),
        groups=int(_attr(node, "group", 1)),
    )
    return y.numpy()


def pre_quant_error(wrapper, ctx: dict, quant_node) -> np.ndarray | None:
    """First-order float32 error of the value an activation quantizer rounds (its input), from
    the reduction that produced it (MatMul/Gemm/Conv) or the residual join of two quantizers'
    outputs (:func:`_join_error`) through Relu and constant elementwise / BatchNormalization
    ops; None for any other producer chain (then no slack is granted)."""
    chain = []
    tensor = quant_node.input[0]
    while True:
        node = wrapper.find_producer(tensor)
        if node is None:
            return None
        if node.op_type in ("MatMul", "Gemm", "Conv") or _is_join(wrapper, node):
            break
        if node.op_type not in _PRE_QUANT_OPS:
            return None
        if node.op_type in TAIL_OPS:
            consts = [wrapper.get_initializer(i) for i in node.input]
            if len(consts) != 2 or consts[1] is None or consts[0] is not None:
                return None
        chain.append(node)
        tensor = node.input[0]
    if node.op_type == "Conv":
        w = np.asarray(ctx[node.input[1]])
        k = int(np.prod(w.shape[1:]))
        err = k * U * _conv_abs(node, ctx)
        if len(node.input) > 2:
            err = err + U * np.abs(np.asarray(ctx[node.output[0]], np.float64))
    elif node.op_type == "Add":
        err = _join_error(wrapper, node, ctx)
        if err is None:
            return None
    else:
        err = _reduction_error(node, ctx)
    for n in chain[::-1]:
        c = wrapper.get_initializer(n.input[1]) if n.op_type in TAIL_OPS else None
        err = _propagate(wrapper, n, None if c is None else np.asarray(c, np.float64), ctx, err)
    return 2 * err  # two float32 evaluations (the reference's and the graph's) may differ by both


#: ops a residual branch may pass through between its quantizer and the join (layout only)
_LAYOUT_OPS = ("Transpose", "Reshape", "Flatten", "MaxPool", "Identity")


def _is_join(wrapper, node) -> bool:
    """An Add of two computed tensors (a residual join)."""
    return node.op_type == "Add" and all(wrapper.get_initializer(i) is None for i in node.input)


def _join_error(wrapper, node, ctx: dict) -> np.ndarray | None:
    """First-order error of one float32 residual join ``v1 + v2`` of two quantizers' outputs
    (each ``int * scale``, one rounding: ``u*|v_i|``) and its sum (``u*|v1 + v2|``); None if an
    input is not an activation quantizer's output through layout ops."""
    err = U * np.abs(np.asarray(ctx[node.output[0]], np.float64))
    for t in node.input:
        src = wrapper.find_producer(t)
        while src is not None and src.op_type in _LAYOUT_OPS:
            src = wrapper.find_producer(src.input[0])
        if src is None or src.op_type not in ("Quant", "BipolarQuant"):
            return None
        err = err + U * np.abs(np.asarray(ctx[t], np.float64))
    return err


class LazyTailBound:
    """:func:`tail_bound` computed on first use: a ladder whose levels are all bit-exact never
    needs it (it costs one full QONNX execution per sample)."""

    def __init__(self, model, x: np.ndarray, reference: np.ndarray) -> None:
        self._args = (model, x, reference)
        self._done = False
        self._value: np.ndarray | None = None

    def __call__(self) -> np.ndarray | None:
        if not self._done:
            self._value, self._done = tail_bound(*self._args), True
        return self._value

    @property
    def used(self) -> np.ndarray | None:
        """The bound, if a level needed it (else None: not computed, or no float tail)."""
        return self._value
