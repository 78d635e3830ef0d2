"""Brevitas model -> QONNX (model.onnx) with the input datatype annotated, plus export.json."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from fewerbits.train.datasets import load_dataset
from fewerbits.train.models import load_factory, required_arguments
from fewerbits.train.schemes import NOT_DEPLOYABLE_HINT
from fewerbits.train.trainer import CHECKPOINT, load_checkpoint, save_torch

from fewerbits.compat.qonnx.fold import FoldConstantsWithOptionalInputs
from fewerbits.core import ownership
from fewerbits.core.artifacts import ExportDir
from fewerbits.core.compare import bit_identical, compare
from fewerbits.core.errors import FewerbitsError, UsageError
from fewerbits.core.files import sha256_file, sha256_json, write_atomic, write_json
from fewerbits.core.float_tail import tail_bound

from .trace import (
    LAYER_NAMES_KEY,
    layer_names,
    name_act_calls,
    record_act_calls,
    resolve_reference,
    tag_act_calls,
)

MODEL_ONNX = ExportDir.MODEL
EXPORT_JSON = ExportDir.INFO


class ExportError(FewerbitsError):
    """A model that cannot be exported to a deployable QONNX graph."""


class ExportOptionError(ExportError, UsageError):
    """An export option that is malformed or does not apply to the model given (exit 2)."""


#: float layers FINN cannot map to hardware, and what to use instead
_FLOAT_LAYERS = {
    nn.Linear: "float weights; use brevitas.nn.QuantLinear",
    nn.Conv1d: "float weights; use brevitas.nn.QuantConv1d",
    nn.Conv2d: "float weights; use brevitas.nn.QuantConv2d",
    nn.ReLU: "float activation; use brevitas.nn.QuantReLU",
    nn.ReLU6: "float activation; use brevitas.nn.QuantReLU",
    nn.Hardtanh: "float activation; use brevitas.nn.QuantHardTanh or QuantIdentity",
    nn.Sigmoid: "float sigmoid has no FINN layer; use a quantized activation",
    nn.Tanh: "float tanh has no FINN layer; use brevitas.nn.QuantHardTanh",
    nn.GELU: "float GELU has no FINN layer; use brevitas.nn.QuantReLU",
    nn.SiLU: "float SiLU has no FINN layer; use brevitas.nn.QuantReLU",
    nn.Softmax: "softmax has no FINN layer; drop it (argmax is unchanged)",
    nn.LayerNorm: "LayerNorm has no FINN layer; use BatchNorm",
}


def check_deployable(model: nn.Module) -> None:
    """Refuse layers FINN cannot build, with one line naming the first such layer."""
    import brevitas.nn as qnn

    quant_wbl = (qnn.QuantLinear, qnn.QuantConv1d, qnn.QuantConv2d)
    inside_brevitas: list[str] = []
    for name, m in model.named_modules():
        if any(name.startswith(p + ".") for p in inside_brevitas):
            continue  # a quantizer's own parts (e.g. the ReLU inside QuantReLU)
        if type(m).__module__.startswith("brevitas"):
            inside_brevitas.append(name)
        if isinstance(m, quant_wbl):
            if not m.weight_quant.is_quant_enabled:
                raise ExportError(
                    f"layer {name} ({type(m).__name__}): weight_quant=None leaves float weights "
                    "FINN cannot build; give it a weight quantizer"
                )
            continue
        for cls, why in _FLOAT_LAYERS.items():
            if type(m) is cls:
                raise ExportError(f"layer {name} ({cls.__name__}) is not deployable: {why}")


def export_qonnx(
    model: nn.Module, input_shape: tuple[int, ...], out_file: Path, input_dtype: str = "UINT8"
):
    """Export with Brevitas, clean up with qonnx, annotate the input datatype; return ModelWrapper."""
    from brevitas.export import export_qonnx as brevitas_export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    model.eval()
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        # TorchScript exporter (dynamo=False): ~20x faster than torch.export here (0.1 s vs
        # 2-4 s per model) and the graphs are the same after qonnx cleanup.
        dummy = torch.zeros(1, *input_shape)
        try:
            brevitas_export_qonnx(model, dummy, export_path=str(raw), dynamo=False)
        except TypeError:  # a torch without the TorchScript exporter
            brevitas_export_qonnx(model, dummy, export_path=str(raw))
        raw_model = ModelWrapper(str(raw))
        tagged = tag_act_calls(raw_model)  # PyTorch's call order, for export/trace.py
        scopes = [
            (_quant_key(raw_model, n), n.name)
            for n in raw_model.graph.node
            if n.op_type in QUANT_OPS
        ]
        wrapper = cleanup_model(raw_model)
    record_act_calls(wrapper, tagged)
    record_layer_names(wrapper, scopes)
    name_act_calls(wrapper, model, input_shape)
    return finish_qonnx(wrapper, out_file, input_dtype)


def record_layer_names(wrapper, scopes: list[tuple[bytes, str]]) -> None:
    """Store {cleaned quantizer name: user's module} in the model, from the quantizers'
    names before qonnx's cleanup renamed them (``scopes``: (:func:`_quant_key`, name)): the
    TorchScript scopes Brevitas' exporter gives every node, by fewerbits or by the user
    (``brevitas.export.export_qonnx``); a name that is no scope is kept as it is."""
    layers = _match_scopes(wrapper, scopes)  # never by position: cleanup reorders nodes
    if layers:
        wrapper.set_metadata_prop(LAYER_NAMES_KEY, json.dumps(layers))


def _quant_key(model, node) -> bytes:
    """What identifies a quantizer node across qonnx's cleanup (which renames nodes and
    tensors and may reorder them, e.g. a quantizer shared by two branches): its op, attributes
    and constant inputs (scale, zero point, bit width; a weight quantizer's weights)."""
    parts = [node.op_type.encode(), b"".join(a.SerializeToString() for a in node.attribute)]
    for t in node.input:
        init = model.get_initializer(t)
        # sorted: cleanup folds a Transpose behind a weight quantizer into its weights
        # (qonnx FoldTransposeIntoQuantInit), which reorders them but keeps their values
        flat = None if init is None else np.sort(np.asarray(init, dtype=np.float32), axis=None)
        parts.append(b"-" if flat is None else flat.tobytes())
    return b"|".join(parts)


def _match_scopes(wrapper, scopes: list[tuple[bytes, str]]) -> dict[str, str] | None:
    """{cleaned quantizer name: user's module} by :func:`_quant_key` (equal keys in graph
    order); None when some node cannot be matched."""
    pending: dict[bytes, list[str]] = {}
    for key, scope in scopes:
        pending.setdefault(key, []).append(scope)
    layers = {}
    for n in wrapper.graph.node:
        if n.op_type in QUANT_OPS:
            left = pending.get(_quant_key(wrapper, n))
            if not left:
                return None
            layers[n.name] = layer_of_scope(left.pop(0))
    return layers


#: QONNX quantizer node types whose names are mapped back to the user's PyTorch modules
QUANT_OPS = ("Quant", "BipolarQuant", "Trunc")


def layer_of_scope(scope: str) -> str:
    """``/features/features.3/act_quant/export_handler/Quant`` -> ``features.3.act_quant``:
    the PyTorch module a node was exported from (TorchScript scope names). A scope part
    qualified relative to an ancestor (``/1/layer1/layer1.0``: ``layer1.0`` is qualified from
    ``1``) replaces the path from that ancestor on; ``export_handler``, ``export_handler_1``
    (a shared quantizer's later calls) are Brevitas' export internals, not modules."""
    parts = [p for p in scope.strip("/").split("/")[:-1] if not p.startswith("export_handler")]
    path: list[str] = []
    for part in parts:
        for k in range(len(path)):  # outermost ancestor first: the longest qualified match
            if part.startswith(".".join(path[k:]) + "."):
                path = path[:k] + part.split(".")
                break
        else:
            path.append(part)
    return ".".join(path) or scope


def finish_qonnx(wrapper, out_file: Path, input_dtype: str):
    """Fold constants, annotate the input datatype, save atomically; return the wrapper."""
    wrapper = wrapper.transform(FoldConstantsWithOptionalInputs())
    wrapper.set_tensor_datatype(wrapper.graph.input[0].name, input_datatype(input_dtype))
    write_atomic(out_file, lambda tmp: wrapper.save(str(tmp)))
    return wrapper


def export_qonnx_file(
    path: Path, out_dir: Path, input_dtype: str = "UINT8", force: bool = False
) -> dict:
    """A QONNX file made elsewhere (e.g. ``brevitas.export.export_qonnx``) as an export folder.

    There is no PyTorch model: `verify` compares every level with qonnx's execution of this
    graph, and says so."""
    from qonnx.core.modelwrapper import ModelWrapper  # lazy: qonnx import takes seconds
    from qonnx.util.cleanup import cleanup_model

    path, out_dir = Path(path).absolute(), Path(out_dir)
    if not path.is_file():
        raise ExportError(f"{path}: QONNX file not found")
    try:
        raw = ModelWrapper(str(path))
        scopes = [(_quant_key(raw, n), n.name) for n in raw.graph.node if n.op_type in QUANT_OPS]
        wrapper = cleanup_model(raw)
    except Exception as e:  # noqa: BLE001 - onnx/qonnx raise many kinds; one line for the user
        raise ExportError(
            f"{path}: not a readable (Q)ONNX model: {type(e).__name__}: {e}"
        ) from None
    record_layer_names(wrapper, scopes)
    key = {"source": {"qonnx": str(path), "sha256": sha256_file(path)}, "input_dtype": input_dtype}
    # owned and staged like every export (fewerbits.core.ownership)
    with ownership.owned_output(out_dir, "export", sha256_json(key), force) as stage:
        wrapper = finish_qonnx(wrapper, stage / MODEL_ONNX, input_dtype)
        check_graph(wrapper)
        info: dict = {"source": {"qonnx": str(path)}, **graph_summary(wrapper)}
        info["layer_names"] = layer_names(wrapper)
        info["input_shape"] = list(wrapper.get_tensor_shape(wrapper.graph.input[0].name))[1:]
        info["check_inputs"] = "none: no PyTorch model to compare with"
        info["verification"] = []
        write_json(stage / EXPORT_JSON, info)
    return info


def check_graph(wrapper) -> None:
    """Refuse exported graphs FINN cannot build: float weights reaching a MatMul/Conv."""
    for n in wrapper.graph.node:
        if n.op_type in ("MatMul", "Gemm", "Conv") and len(n.input) > 1:
            w = n.input[1]
            if wrapper.get_initializer(w) is not None:
                raise ExportError(
                    f"node {n.name} ({n.op_type}) has float weights {w}; FINN needs quantized "
                    "weights (Brevitas weight_quant)"
                )


def graph_summary(wrapper) -> dict:
    """Opset, node counts and I/O shapes/datatypes of a (Q)ONNX model."""
    g = wrapper.graph
    inp, outp = g.input[0].name, g.output[0].name
    return {
        "opset": max(
            (o.version for o in wrapper.model.opset_import if o.domain in ("", "ai.onnx")),
            default=None,
        ),
        "nodes": dict(sorted(Counter(n.op_type for n in g.node).items())),
        "input": {
            "name": inp,
            "shape": list(wrapper.get_tensor_shape(inp)),
            "datatype": wrapper.get_tensor_datatype(inp).name,
        },
        "output": {
            "name": outp,
            "shape": list(wrapper.get_tensor_shape(outp)),
            "datatype": wrapper.get_tensor_datatype(outp).name,
        },
    }


def execute_qonnx(wrapper, x: np.ndarray) -> np.ndarray:
    """Run a QONNX model on a batch with qonnx's executor (one sample at a time)."""
    from qonnx.core.onnx_exec import execute_onnx

    iname, oname = wrapper.graph.input[0].name, wrapper.graph.output[0].name
    outs = [
        execute_onnx(wrapper, {iname: x[i : i + 1].astype(np.float32)})[oname]
        for i in range(len(x))
    ]
    return np.concatenate(outs, axis=0)


def source_model(source: dict) -> nn.Module:
    """Rebuild the PyTorch model an export was made from (recorded in export.json)."""
    if "checkpoint" in source:
        return load_checkpoint(Path(source["checkpoint"]))[0]
    model = load_factory(source["factory"])()
    # the state saved at export (exactly the exported parameters, even without --weights),
    # else the user's weights file
    if source.get("state"):
        # strict=False: Brevitas creates runtime-statistics scales lazily; a key the exported
        # model did not have yet is absent here too, and the fresh model is in the same state
        model.load_state_dict(torch.load(source["state"], map_location="cpu"), strict=False)
    elif source.get("weights"):
        state = torch.load(source["weights"], map_location="cpu", weights_only=False)
        model.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
    return model.eval()


def check_samples(model: nn.Module, wrapper, x: np.ndarray) -> dict:
    """PyTorch vs QONNX on ``x``: the first rung of the verification ladder. Samples where
    PyTorch's float32 rounding at a tie differs from the graph's are decided exactly by
    pinning (export/trace.py) and then compared with the graph's own output."""
    model.eval()
    x = x.astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    out = execute_qonnx(wrapper, x)
    bound = None if bit_identical(ref, out) else tail_bound(wrapper, x, ref)
    res = resolve_reference(model, wrapper, x, ref, out, bound)
    check = compare("qonnx", res.reference, out, abs_bound=bound)
    check.reason = res.note()
    check.bit_exact -= len(res.resolved)  # bit-exact to the graph's output, not PyTorch's
    if res.failed is not None:
        check.status, check.first_failing_sample = "fail", res.failed_sample
        check.node = res.failed.layer or res.failed.node
    d = check.to_dict()
    d["resolved_samples"] = res.resolved
    return d


def input_datatype(name: str):
    """The QONNX DataType called ``name``, or a one-line ExportError naming the option."""
    from qonnx.core.datatype import DataType  # lazy: qonnx import takes seconds

    try:
        return DataType[name]
    except KeyError:
        raise ExportOptionError(
            f"--input-datatype {name!r}: not a QONNX datatype; use e.g. UINT8, INT8, INT4, "
            "BIPOLAR, FIXED<8,4> or FLOAT32"
        ) from None


def random_inputs(dtype: str, shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """``n`` random inputs of QONNX datatype ``dtype``: every integer of its range (BIPOLAR:
    -1 and +1 only), values on its grid for fixed point, standard normal for FLOAT32."""
    dt = input_datatype(dtype)
    rng = np.random.default_rng(seed)
    if dt.name == "BIPOLAR":
        return rng.choice(np.array([-1.0, 1.0], np.float32), size=(n, *shape))
    if dt.is_integer():
        if dt.bitwidth() > 32:
            raise ExportOptionError(
                f"--input-datatype {dtype}: wider than 32 bits; an accelerator input is an "
                "integer of at most 32 bits"
            )
        return rng.integers(int(dt.min()), int(dt.max()) + 1, (n, *shape)).astype(np.float32)
    if dt.is_fixed_point():
        step = dt.scale_factor()
        lo, hi = round(dt.min() / step), round(dt.max() / step)
        return (rng.integers(lo, hi + 1, (n, *shape)) * step).astype(np.float32)
    return rng.standard_normal((n, *shape)).astype(np.float32)


def export(
    source: dict,
    out_dir: Path,
    input_shape: tuple[int, ...] | None = None,
    samples: np.ndarray | None = None,
    input_dtype: str = "UINT8",
    force: bool = False,
) -> dict:
    """Export a checkpoint (``{"checkpoint": path}``), a user factory (``{"factory":
    "file.py:fn", "weights": path|None}``) or a QONNX file (``{"qonnx": path}``) to
    ``out_dir/model.onnx`` + ``export.json``."""
    out_dir = Path(out_dir)
    input_datatype(input_dtype)  # refuse a bad option before any work
    if "qonnx" in source:
        return export_qonnx_file(Path(source["qonnx"]), out_dir, input_dtype, force)
    source = {
        k: (str(Path(v).absolute()) if k in ("checkpoint", "weights") and v else v)
        for k, v in source.items()
    }
    info: dict = {"source": dict(source)}
    if "checkpoint" in source:
        path = Path(source["checkpoint"])
        if path.is_dir():
            path = path / CHECKPOINT
        if not path.is_file():
            raise ExportError(f"checkpoint {path} not found; run `fewerbits train` first")
        source["checkpoint"] = info["source"]["checkpoint"] = str(path)
        model, ckpt = load_checkpoint(path)
        cfg = ckpt.get("config", {})
        if ckpt.get("deployable", True) is False:  # None: the factory fixes its own scheme
            raise ExportError(
                f"checkpoint {path}: scheme {cfg.get('scheme')!r} is not deployable: "
                f"{NOT_DEPLOYABLE_HINT}"
            )
        input_shape = tuple(ckpt["input_shape"])
        info["dataset"] = cfg.get("dataset")
        info["data_file"] = cfg.get("data_file")
    else:
        if input_shape is None:
            raise ExportOptionError(
                f"{source['factory']}: --input-shape is required for a factory (e.g. 1,28,28)"
            )
        needs = required_arguments(load_factory(source["factory"]))
        if needs:
            raise ExportError(
                f"{source['factory']}: the factory needs {', '.join(needs)}, which export cannot "
                "supply; export the train folder it was trained into (`fewerbits export "
                "TRAIN_DIR`: its checkpoint records them), or give them defaults"
            )
        try:
            model = source_model(source)
        except (FileNotFoundError, RuntimeError) as e:
            msg = " ".join(str(e).split())  # torch's load_state_dict errors span lines
            raise ExportError(f"{source.get('weights') or source['factory']}: {msg}") from None
    check_deployable(model)
    export_key = {"source": source, "input_shape": list(input_shape), "input_dtype": input_dtype}
    # staged (fewerbits.core.ownership): a graph check_graph refuses, or a full disk, neither
    # leaves a folder nor replaces an earlier export
    with ownership.owned_output(out_dir, "export", sha256_json(export_key), force) as stage:
        wrapper = export_qonnx(model, tuple(input_shape), stage / MODEL_ONNX, input_dtype)
        check_graph(wrapper)
        info.update(graph_summary(wrapper))
        info["layer_names"] = layer_names(wrapper)
        info["input_shape"] = list(input_shape)
        given = samples is not None
        if samples is None and info.get("dataset"):
            df = info.get("data_file")
            samples = load_dataset(info["dataset"], Path(df) if df else None).x_test[:100]
        if samples is None:  # a factory without data: random inputs of the input datatype
            samples = random_inputs(input_dtype, tuple(input_shape), 100, seed=0)
            info["check_inputs"] = f"100 random {input_dtype} inputs (seed 0)"
        else:
            what = "given inputs" if given else f"test images of {info.get('dataset')}"
            info["check_inputs"] = f"{len(samples)} {what}"
        info["verification"] = [check_samples(model, wrapper, np.asarray(samples, np.float32))]
        if "factory" in source:  # what `verify` rebuilds the PyTorch reference from
            save_torch(model.state_dict(), ExportDir(stage).state)
            info["source"]["state"] = str(ExportDir(out_dir.absolute()).state)
        write_json(stage / EXPORT_JSON, info)
    return info
