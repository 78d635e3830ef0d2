"""PyTorch's integer activations matched to the exported graph's quantizers by identity, and
the resolution of float32 rounding ties in the reference.

Identity: at export every activation quantizer node of Brevitas' raw graph is tagged with its
call index (TorchScript records the calls in execution order, one Quant node per call of an
enabled activation quantizer proxy, a shared quantizer once per call); the tag survives qonnx's
cleanup and the cleaned names, in call order, are stored in the model (``ACT_CALLS_KEY``). A
forward hook on every enabled ``ActQuantProxyFromInjector`` then gives PyTorch's value of the
same quantizer call, never by position in the cleaned graph.

Why a reference can disagree with a correct graph: a convolution's float32 sum depends on the
summation order, and PyTorch picks its algorithm by batch size (oneDNN), so the value a
quantizer rounds can land on either side of a rounding boundary when the exact value sits
within float32 error of it. Brevitas' ResNet-18 with random weights has such a tie in about
one sample of 20 (``layer3.0.downsample.2``: 4.5000006 vs 4.4999998 levels); every integer
after it then differs, and the logits by up to 0.009, far beyond any float-tail bound.

:func:`pinned_check` decides such a sample exactly: it executes the graph, and at the first
quantizer whose integers differ from PyTorch's it accepts only elements one level apart where
the graph's own pre-quantization value lies within its derived float32 error of the boundary
between the two levels (:func:`fewerbits.core.float_tail.pre_quant_error`, covering both
evaluations); it then *pins* PyTorch's integers there and executes the rest of the graph from
them. Every later integer tensor must then equal PyTorch's exactly and the output must be
within the derived float-tail bound. A sample that passes is one where PyTorch and the graph
evaluate the same model and differ only by float32 rounding choices at ties; the graph's own
(unpinned) output is then an equally valid reference for the hardware levels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from fewerbits.core.float_tail import context_tail_bound, pre_quant_error

#: model metadata key: {QONNX quantizer node name: the user's PyTorch module path}
LAYER_NAMES_KEY = "fewerbits.layer_names"
#: model metadata key: the cleaned activation quantizer node names in PyTorch's call order
ACT_CALLS_KEY = "fewerbits.act_calls"
_TAG = "fewerbits-act-call:"


def is_act_quant(wrapper, node) -> bool:
    """An activation quantizer: Quant/BipolarQuant on a tensor computed by the graph."""
    if node.op_type not in ("Quant", "BipolarQuant") or not node.input:
        return False
    if wrapper.get_initializer(node.input[0]) is not None:
        return False
    producer = wrapper.find_producer(node.input[0])
    return producer is None or producer.op_type != "Constant"


def tag_act_calls(raw) -> int:
    """Tag the raw export's activation quantizers with their call index; return how many."""
    nodes = [n for n in raw.graph.node if is_act_quant(raw, n)]
    for i, n in enumerate(nodes):
        n.doc_string = f"{_TAG}{i}"
    return len(nodes)


def record_act_calls(wrapper, tagged: int) -> None:
    """Store the cleaned names in call order (when every tag survived cleanup); drop tags."""
    found: dict[int, str] = {}
    for n in wrapper.graph.node:
        if n.doc_string.startswith(_TAG):
            found[int(n.doc_string[len(_TAG) :])] = n.name
            n.doc_string = ""
    if tagged and sorted(found) == list(range(tagged)):
        wrapper.set_metadata_prop(ACT_CALLS_KEY, json.dumps([found[i] for i in range(tagged)]))


def layer_names(wrapper) -> dict[str, str]:
    """{QONNX quantizer node name: user's module path} recorded at export ({} if unknown)."""
    raw = wrapper.get_metadata_prop(LAYER_NAMES_KEY)
    return json.loads(raw) if raw else {}


def act_calls(wrapper) -> list[str]:
    """The activation quantizer node names in PyTorch's call order ([] if not recorded)."""
    raw = wrapper.get_metadata_prop(ACT_CALLS_KEY)
    return json.loads(raw) if raw else []


def pytorch_with_activations(
    model, x: np.ndarray, keep: np.ndarray, batch: int | None = None
) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """PyTorch's outputs on ``x`` (in batches of ``batch``, all at once if None: the same
    batching as the reference, so the same float32 evaluation) and, for the samples ``keep``,
    the value of every enabled activation quantizer call in call order."""
    import torch
    from brevitas.proxy.runtime_quant import ActQuantProxyFromInjector

    keep = [int(i) for i in keep]
    batch = batch or len(x)
    acts: dict[int, list[np.ndarray]] = {i: [] for i in keep}
    rows: list[int] = []  # the kept samples of the running batch (positions in it)
    offset = [0]

    def hook(mod, _inp, out) -> None:
        if not mod.is_quant_enabled:
            return
        value = (out.value if hasattr(out, "value") else out[0]).detach().numpy()
        for r in rows:
            acts[offset[0] + r].append(value[r : r + 1].copy())

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, ActQuantProxyFromInjector)
    ]
    outs = []
    try:
        model.eval()
        with torch.no_grad():
            for i in range(0, len(x), batch):
                rows[:] = [k - i for k in keep if i <= k < i + batch]
                offset[0] = i
                outs.append(model(torch.from_numpy(x[i : i + batch])).numpy())
    finally:
        for h in handles:
            h.remove()
    return np.concatenate(outs), [acts[i] for i in keep]


def act_call_modules(model, input_shape: tuple[int, ...]) -> list[str]:
    """The module path of every enabled activation quantizer call of one forward pass, in call
    order; a shared quantizer's later calls say which call they are (``relu.act_quant, call
    2``). Named by PyTorch's own module tree, not by TorchScript scopes (which name a shared
    module by the block it is called from)."""
    import torch
    from brevitas.proxy.runtime_quant import ActQuantProxyFromInjector

    names = {m: n for n, m in model.named_modules()}
    calls: list[str] = []
    seen: dict[str, int] = {}

    def hook(mod, _inp, _out) -> None:
        if mod.is_quant_enabled:
            name = names[mod]
            seen[name] = seen.get(name, 0) + 1
            calls.append(name if seen[name] == 1 else f"{name}, call {seen[name]}")

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, ActQuantProxyFromInjector)
    ]
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
    return calls


def name_act_calls(wrapper, model, input_shape: tuple[int, ...]) -> None:
    """Name the activation quantizers in the model's layer names by PyTorch's module tree
    (:func:`act_call_modules`, matched by call order: :data:`ACT_CALLS_KEY`)."""
    nodes = act_calls(wrapper)
    if not nodes:
        return
    modules = act_call_modules(model, input_shape)
    if len(modules) != len(nodes):
        return
    layers = layer_names(wrapper)
    layers.update(zip(nodes, modules, strict=True))
    wrapper.set_metadata_prop(LAYER_NAMES_KEY, json.dumps(layers))


@dataclass
class PinResult:
    """The outcome of :func:`pinned_check` for one sample."""

    ok: bool
    output: np.ndarray | None = None  # the graph's output with PyTorch's ties pinned
    ctx: dict | None = None  # the pinned execution context
    pins: dict[str, int] = field(default_factory=dict)  # node -> elements pinned
    node: str | None = None  # first quantizer with a real integer difference
    layer: str | None = None
    why: str = ""


def _execute(wrapper, feed: dict, start=None) -> dict:
    from qonnx.core.onnx_exec import execute_onnx  # lazy: qonnx import takes seconds

    feed = {k: v for k, v in feed.items() if v is not None}  # tensors not computed (yet)
    return execute_onnx(wrapper, feed, True, start_node=start)


def pinned_check(
    wrapper, x1: np.ndarray, torch_acts: list[np.ndarray | None], layers: dict
) -> PinResult:
    """Execute the graph on one sample, pinning PyTorch's integers where they differ from the
    graph's only by a float32 rounding at a boundary (see the module docstring). The values
    may come from another executor of the same model (a FINN level's integers times the
    quantizer's scale); None: a quantizer that executor does not have (not compared)."""
    names = act_calls(wrapper)
    if len(names) != len(torch_acts):
        return PinResult(
            False,
            why=f"{len(torch_acts)} activation quantizer calls in PyTorch, "
            f"{len(names)} recorded in the graph",
        )
    want = {n: a for n, a in zip(names, torch_acts, strict=True) if a is not None}
    nodes = list(wrapper.graph.node)
    ctx = _execute(wrapper, {wrapper.graph.input[0].name: x1.astype(np.float32)})
    pins: dict[str, int] = {}
    for k, node in enumerate(nodes):
        if node.name not in want:
            continue
        got, ref = np.asarray(ctx[node.output[0]]), want[node.name]
        if got.shape != ref.shape:
            return PinResult(False, node=node.name, layer=layers.get(node.name), why="shape")
        if node.op_type == "Quant":
            scale = np.asarray(wrapper.get_initializer(node.input[1]), np.float32)
        else:
            scale = np.float32(1)
        g, r = np.round(got / scale), np.round(ref / scale)
        diff = g != r
        if not diff.any():
            continue
        err = pre_quant_error(wrapper, ctx, node) if node.op_type == "Quant" else None
        pre = np.asarray(ctx[node.input[0]], np.float64) / scale
        dist = np.abs(pre - (g + r) / 2)
        slack = None if err is None else np.broadcast_to(err / np.abs(scale), g.shape)
        tie = (
            slack is not None
            and np.all(np.abs(g - r)[diff] == 1)
            and np.all((dist[diff] > 0) & (dist[diff] <= slack[diff]))
        )
        if not tie:
            far = int(np.argmax(np.where(diff, np.abs(g - r), -1)))
            return PinResult(
                False,
                pins=pins,
                node=node.name,
                layer=layers.get(node.name),
                why=f"{int(diff.sum())} integer(s) differ, e.g. {g.flat[far]:g} vs PyTorch's "
                f"{r.flat[far]:g} (not a float32 rounding at a boundary)",
            )
        pins[node.name] = int(diff.sum())
        ctx[node.output[0]] = (r * scale).astype(np.float32)
        if k + 1 < len(nodes):
            ctx = _execute(wrapper, ctx, nodes[k + 1])
    out = np.asarray(ctx[wrapper.graph.output[0].name])
    return PinResult(True, output=out, ctx=ctx, pins=pins)


#: at most this many samples are resolved (each costs one or more graph executions)
MAX_RESOLVED = 100


def decide_sample(
    wrapper, x1: np.ndarray, torch_acts: list[np.ndarray], ref1: np.ndarray, layers: dict
) -> PinResult:
    """:func:`pinned_check` of one sample, whose pinned output must then also be within the
    derived float-tail bound of PyTorch's output ``ref1``."""
    p = pinned_check(wrapper, x1, torch_acts, layers)
    if p.ok:
        pb = context_tail_bound(wrapper, p.ctx, ref1)
        limit = 0.0 if pb is None else pb
        p.ok = bool(np.all(np.abs(p.output.astype(np.float64).reshape(ref1.shape) - ref1) <= limit))
        if not p.ok:
            p.why = "with PyTorch's ties pinned the output is beyond the float-tail bound"
    p.ctx = None  # every tensor of the graph: do not keep it
    return p


@dataclass
class IntegerComparison:
    """PyTorch's integers of every activation quantizer call against the graph's, per sample
    (:func:`compare_act_integers`)."""

    tensors: int = 0  # quantizer calls compared per sample
    samples: int = 0
    tied: dict[int, dict[str, int]] = field(default_factory=dict)  # sample -> layer -> pins
    failed: PinResult | None = None
    failed_sample: int | None = None
    not_compared: str | None = None  # why nothing was compared

    def summary(self) -> dict:
        """A verify.json ``integers`` entry (counts and one line)."""
        d: dict = {"tensors": self.tensors, "samples": self.samples, "against": "pytorch"}
        what = f"{self.tensors} tensors x {self.samples} samples"
        if self.not_compared:
            d["summary"] = f"not compared with PyTorch's: {self.not_compared}"
        elif self.failed is not None:
            where = self.failed.layer or self.failed.node or "?"
            d["first_difference"] = {
                "sample": self.failed_sample,
                "quantizer": self.failed.node,
                "layer": self.failed.layer,
            }
            d["summary"] = (
                f"differ from PyTorch's at layer {where} on sample {self.failed_sample}: "
                f"{self.failed.why} ({what} compared up to it)"
            )
        else:
            d["tied_samples"] = sorted(self.tied)
            tied = f" ({len(self.tied)} sample(s) decided with ties pinned)" if self.tied else ""
            d["summary"] = f"{what} exact against PyTorch's (forward hooks){tied}"
        return d


#: samples whose quantizer values are held at once (bounds the memory of a large net)
KEEP_SAMPLES = 100


def compare_act_integers(
    model, wrapper, x: np.ndarray, batch: int | None = None
) -> IntegerComparison:
    """Compare PyTorch's integer levels of every activation quantizer call (value / scale,
    forward hooks: :func:`pytorch_with_activations`, in batches of ``batch`` as the reference
    was evaluated) with the graph's on *every* sample, by identity (:data:`ACT_CALLS_KEY`).
    A sample that differs is decided by :func:`decide_sample` (float32 ties pinned); the first
    that fails it is kept (``failed``) and ends the comparison."""
    names = act_calls(wrapper)
    res = IntegerComparison()
    if not names:
        res.not_compared = "no quantizer call order recorded at export (re-export the model)"
        return res
    layers = layer_names(wrapper)
    nodes = [wrapper.get_node_from_name(n) for n in names]
    scales = [
        np.asarray(wrapper.get_initializer(n.input[1]), np.float32)
        if n.op_type == "Quant"
        else np.float32(1)
        for n in nodes
    ]
    batch = batch or len(x)
    for start in range(0, len(x), batch):
        xs = x[start : start + batch]
        for first in range(0, len(xs), KEEP_SAMPLES):
            keep = np.arange(first, min(first + KEEP_SAMPLES, len(xs)))
            outs, acts = pytorch_with_activations(model, xs, keep, batch)
            for j, a in zip(keep, acts, strict=True):
                i = start + int(j)
                if len(a) != len(names):
                    res.not_compared = (
                        f"{len(a)} activation quantizer calls in PyTorch, {len(names)} recorded "
                        "in the graph"
                    )
                    return res
                x1 = x[i : i + 1].astype(np.float32)
                ctx = _execute(wrapper, {wrapper.graph.input[0].name: x1})
                res.tensors, res.samples = len(names), res.samples + 1
                if all(
                    np.array_equal(np.round(ctx[n.output[0]] / s), np.round(v / s))
                    for n, s, v in zip(nodes, scales, a, strict=True)
                ):
                    continue
                # a few partial executions per such sample: no cap is needed
                p = decide_sample(wrapper, x1, a, outs[j : j + 1], layers)
                if p.ok and p.pins:
                    res.tied[i] = {layers.get(n, n): c for n, c in p.pins.items()}
                    continue
                res.failed, res.failed_sample = p, i
                return res
    return res


@dataclass
class Resolution:
    """Which samples' PyTorch reference was resolved to the graph's own output."""

    reference: np.ndarray  # PyTorch's outputs, resolved samples replaced by the graph's
    resolved: list[int] = field(default_factory=list)
    pins: dict[str, int] = field(default_factory=dict)  # user's layer -> elements pinned
    failed: PinResult | None = None
    failed_sample: int | None = None

    def note(self) -> str | None:
        """One line for the result (None if nothing was resolved or refused)."""
        if self.failed is not None:
            where = self.failed.layer or self.failed.node or "?"
            node = f" ({self.failed.node})" if self.failed.layer else ""
            return (
                f"sample {self.failed_sample}: integer output of layer {where}{node} differs "
                f"from PyTorch's: {self.failed.why}"
            )
        if not self.resolved:
            return None
        layers = ", ".join(f"{k} ({v})" for k, v in sorted(self.pins.items()))
        return (
            f"{len(self.resolved)} sample(s) where PyTorch's float32 value sits within its "
            f"derived error of a rounding boundary and rounds the other way (layer: elements "
            f"{layers}); with PyTorch's integers pinned there every later integer tensor is "
            "equal and the output within the derived float-tail bound, so the graph's own "
            "output is their reference"
        )


def resolve_reference(
    model,
    wrapper,
    x: np.ndarray,
    reference: np.ndarray,
    out: np.ndarray,
    bound: np.ndarray | None,
    batch: int | None = None,
) -> Resolution:
    """Resolve the samples whose graph output ``out`` is not within ``bound`` (else not
    bit-identical) of PyTorch's ``reference`` by :func:`pinned_check`."""

    ref = np.asarray(reference, np.float32)
    o = np.asarray(out, np.float32).reshape(ref.shape)
    d = np.abs(ref.astype(np.float64) - o).reshape(len(ref), -1)
    lim = np.zeros_like(d) if bound is None else np.asarray(bound, np.float64).reshape(d.shape)
    bad = np.nonzero(np.any(d > lim, axis=1))[0]
    res = Resolution(reference=ref.copy())
    if not len(bad) or not act_calls(wrapper):
        return res
    bad = bad[:MAX_RESOLVED]
    again, acts = pytorch_with_activations(model, x, bad, batch)
    layers = layer_names(wrapper)
    for i, a in zip(bad, acts, strict=True):
        if not np.array_equal(again[i], ref[i]):  # PyTorch not reproducible: no resolution
            continue
        p = decide_sample(wrapper, x[i : i + 1], a, ref[i : i + 1], layers)
        if not p.ok:
            res.failed, res.failed_sample = p, int(i)
            return res
        res.resolved.append(int(i))
        res.reference[i] = o[i]
        for n, c in p.pins.items():
            key = layers.get(n, n)
            res.pins[key] = res.pins.get(key, 0) + c
    return res
