"""Concrete verification levels: PyTorch reference, QONNX, onnxruntime (QCDQ), FINN graphs.

Every level is an object with ``name``, ``available() -> reason | None`` and ``run(x)``
(:class:`fewerbits.verify.Level`). The FINN graph levels read the intermediate models that
``hw/flow.py`` saves after each step (``BUILD/intermediate_models/<step>.onnx``) and can
also ``trace(x1)`` one sample: the integer activation codes of every thresholding node, used by
:func:`fewerbits.verify.locate_divergence` to name the first node that diverges.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fewerbits.core.errors import FewerbitsError
from fewerbits.verify import FunctionLevel

#: level name -> intermediate models that can serve it, first found wins
FINN_LEVEL_STEPS: dict[str, tuple[str, ...]] = {
    "finn_onnx": ("step_tidy_up", "step_qonnx_to_finn"),
    "streamlined": ("step_fewerbits_fix_thresholds", "step_streamline"),
    "hw_graph": ("step_create_dataflow_partition", "step_convert_to_hw"),
    "folded_hw_graph": (
        "step_hw_codegen",
        "step_generate_estimate_reports",
        "step_minimize_bit_width",
    ),
}

#: levels that need tools this machine may not have (name -> reason when absent)
VIVADO_LEVELS = {
    "cppsim": "needs Vitis HLS and finn-hlslib (C++ simulation of the HLS layers); "
    "run `fewerbits verify` inside the Docker image with Vivado mounted",
    "rtlsim_xsim": "needs Vivado xsim (FINN's RTL simulation of the stitched IP); "
    "run `fewerbits verify` inside the Docker image with Vivado mounted",
}
#: Verilator levels (issue 6, hw/rtlsim) and the reason they are skipped until it provides them
RTL_LEVELS = {
    "rtl_nodes": "Verilator simulation of the generated RTL per node needs a build folder "
    "(run `fewerbits build` first)",
    "rtl_stitched": "Verilator simulation of the stitched accelerator needs a build folder "
    "(run `fewerbits build` first)",
}


def pytorch_reference(model, x: np.ndarray, batch: int = 500) -> np.ndarray:
    """The reference: the PyTorch model's float32 outputs."""
    import torch

    model.eval()
    with torch.no_grad():
        return np.concatenate(
            [model(torch.from_numpy(x[i : i + batch])).numpy() for i in range(0, len(x), batch)]
        )


# ---- QONNX and onnxruntime ----------------------------------------------------------------------


def _act_quant_nodes(wrapper) -> list:
    return [
        n
        for n in wrapper.graph.node
        if n.op_type in ("Quant", "BipolarQuant")
        and wrapper.get_initializer(n.input[0]) is None
        and wrapper.get_initializer(n.output[0]) is None
    ]


@dataclass
class QonnxLevel:
    """The exported QONNX graph executed by qonnx's reference executor."""

    model_onnx: Path
    name: str = "qonnx"

    def available(self) -> str | None:
        return None if Path(self.model_onnx).is_file() else f"{self.model_onnx} not found"

    def run(self, x: np.ndarray) -> np.ndarray:
        from qonnx.core.modelwrapper import ModelWrapper

        from fewerbits.export.exporter import execute_qonnx

        return execute_qonnx(ModelWrapper(str(self.model_onnx)), x)

    def trace(self, x1: np.ndarray) -> list[tuple[str, np.ndarray, int]]:
        """(node, integer levels, lowest level) of every activation quantizer."""
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx

        w = ModelWrapper(str(self.model_onnx))
        ctx = execute_onnx(
            w, {w.graph.input[0].name: x1.astype(np.float32)}, return_full_exec_context=True
        )
        out = []
        for n in _act_quant_nodes(w):
            scale = np.asarray(w.get_initializer(n.input[1]), dtype=np.float32)
            lowest = -1
            if n.op_type == "Quant":
                attrs = {a.name: a.i for a in n.attribute if a.name in ("signed", "narrow")}
                bits = int(np.asarray(w.get_initializer(n.input[3])).item())
                signed, narrow = attrs.get("signed", 1), attrs.get("narrow", 0)
                lowest = -(2 ** (bits - 1)) + narrow if signed else 0
            out.append((n.name, np.round(ctx[n.output[0]] / scale), lowest))
        return out


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


@dataclass
class OnnxRuntimeLevel:
    """QONNX converted to standard QuantizeLinear/DequantizeLinear ops, run by onnxruntime with
    all graph optimisations off (so it executes the graph as written: an independent executor)."""

    model_onnx: Path
    name: str = "onnxruntime"
    _session: object = field(default=None, repr=False)
    _why: str | None = field(default=None, repr=False)

    def _load(self):
        if self._session is not None or self._why is not None:
            return
        import onnxruntime as ort

        if not Path(self.model_onnx).is_file():
            self._why = f"{self.model_onnx} not found"
            return
        proto, why = qonnx_to_standard_onnx(self.model_onnx)
        if why:
            self._why = why
            return
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        so.intra_op_num_threads = 1
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


# ---- FINN graphs ------------------------------------------------------------------------------


def _base_op(op_type: str, domain: str) -> tuple[str, str]:
    """MVAU_hls / finn.custom_op.fpgadataflow.hls -> MVAU / finn.custom_op.fpgadataflow."""
    for suffix in ("_hls", "_rtl"):
        if op_type.endswith(suffix) and domain.startswith("finn.custom_op.fpgadataflow"):
            return op_type[: -len(suffix)], "finn.custom_op.fpgadataflow"
    return op_type, domain


def to_python_exec(model, tmp_dir: Path, tag: str = "m"):
    """A copy of ``model`` whose specialized HLS/RTL nodes are mapped back to their base
    types (executed with each node's Python semantics), recursing into dataflow partitions.
    The compute (weights, thresholds, datatypes) is untouched; only the node class changes."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    model = ModelWrapper(model.model.__deepcopy__())
    for i, n in enumerate(model.graph.node):
        n.op_type, n.domain = _base_op(n.op_type, n.domain)
        if n.op_type == "StreamingDataflowPartition":
            inst = getCustomOp(n)
            child = ModelWrapper(inst.get_nodeattr("model"))
            child = to_python_exec(child, tmp_dir, f"{tag}_{i}")
            path = Path(tmp_dir) / f"{tag}_{i}.onnx"
            child.save(str(path))
            inst.set_nodeattr("model", str(path))
    return model


def with_parent(model, build_dir: Path, tmp_dir: Path):
    """FINN's step_create_dataflow_partition continues with the accelerator partition only;
    nodes left outside it (e.g. an input Transpose or a float tail) live in the parent, which
    is not saved. If ``model`` is such a partition, rebuild the parent from the
    step_convert_to_hw model with FINN's own CreateDataflowPartition and point its partition
    node at ``model``, so the level computes the whole network."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    hw_file = Path(build_dir) / "intermediate_models" / "step_convert_to_hw.onnx"
    is_partition = all(n.domain.startswith("finn.custom_op.fpgadataflow") for n in model.graph.node)
    if not is_partition or not hw_file.is_file():
        return model
    hw = ModelWrapper(str(hw_file))
    if all(n.domain.startswith("finn.custom_op.fpgadataflow") for n in hw.graph.node):
        return model  # the partition is the whole network
    from finn.transformation.fpgadataflow.create_dataflow_partition import (
        CreateDataflowPartition,
    )

    parent = hw.transform(CreateDataflowPartition(partition_model_dir=str(tmp_dir / "parts")))
    sdp = parent.get_nodes_by_op_type("StreamingDataflowPartition")
    if len(sdp) != 1:
        return model
    child = Path(tmp_dir) / "partition.onnx"
    model.save(str(child))
    getCustomOp(sdp[0]).set_nodeattr("model", str(child))
    return parent


def _is_thresholding(inst, n) -> bool:
    if n.op_type in ("MultiThreshold", "Thresholding"):
        return True
    if n.op_type in ("MVAU", "VVAU"):
        return inst.get_nodeattr("noActivation") == 0
    return False


@dataclass
class FinnGraphLevel:
    """One of FINN's intermediate models, executed node by node in Python."""

    name: str
    build_dir: Path
    steps: tuple[str, ...]
    _model: object = field(default=None, repr=False)
    _tmp: object = field(default=None, repr=False)

    @property
    def model_file(self) -> Path | None:
        inter = Path(self.build_dir) / "intermediate_models"
        for s in self.steps:
            if (inter / f"{s}.onnx").is_file():
                return inter / f"{s}.onnx"
        return None

    def available(self) -> str | None:
        if self.model_file is None:
            return (
                f"no intermediate model {' or '.join(s + '.onnx' for s in self.steps)} in "
                f"{self.build_dir}/intermediate_models (build did not reach this step)"
            )
        return None

    def load(self):
        """The level's model, ready for Python execution (cached)."""
        if self._model is None:
            from qonnx.core.modelwrapper import ModelWrapper

            from fewerbits.compat.finn import env as finn_env

            finn_env.prepare_finn(self.build_dir)
            self._tmp = tempfile.TemporaryDirectory(prefix="fewerbits-verify-")
            tmp = Path(self._tmp.name)
            model = with_parent(ModelWrapper(str(self.model_file)), Path(self.build_dir), tmp)
            self._model = to_python_exec(model, tmp, self.name)
        return self._model

    def _execute(self, x1: np.ndarray, full: bool = False) -> dict:
        from finn.core.onnx_exec import execute_onnx

        m = self.load()
        return execute_onnx(m, {m.graph.input[0].name: x1}, return_full_exec_context=full)

    def run(self, x: np.ndarray) -> np.ndarray:
        m = self.load()
        oname = m.graph.output[0].name
        ishape = tuple(m.get_tensor_shape(m.graph.input[0].name))
        outs = [
            self._execute(x[i : i + 1].astype(np.float32).reshape(ishape))[oname]
            for i in range(len(x))
        ]
        return np.concatenate(outs)

    def nodes_in_order(self) -> list[tuple[object, object, str]]:
        """(node, owning model, key of its first output in the full execution context) for
        every node, dataflow partitions expanded (FINN prefixes their tensors with the
        partition node's name; partition outputs keep the parent's name)."""
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.custom_op.registry import getCustomOp

        out = []
        for n in self.load().graph.node:
            if n.op_type != "StreamingDataflowPartition":
                out.append((n, self.load(), n.output[0]))
                continue
            child = ModelWrapper(getCustomOp(n).get_nodeattr("model"))
            couts = [t.name for t in child.graph.output]
            for cn in child.graph.node:
                t = cn.output[0]
                key = n.output[couts.index(t)] if t in couts else f"{n.name}_{t}"
                out.append((cn, child, key))
        return out

    def trace(self, x1: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """Output of every thresholding node (integer activation codes) on one sample."""
        from qonnx.custom_op.registry import getCustomOp

        m = self.load()
        for n in m.graph.node:
            if n.op_type == "StreamingDataflowPartition":
                getCustomOp(n).set_nodeattr("return_full_exec_context", 1)
        ishape = tuple(m.get_tensor_shape(m.graph.input[0].name))
        ctx = self._execute(x1.astype(np.float32).reshape(ishape), full=True)
        out = []
        for n, owner, key in self.nodes_in_order():
            if not n.domain or n.domain == "ai.onnx":
                continue
            if not _is_thresholding(getCustomOp(n), n):
                continue
            out.append((n.name, ctx[key], owner.get_tensor_datatype(n.output[0]).name))
        return out


@dataclass
class SkippedLevel:
    """A level that cannot run here; always reports ``skipped`` with the reason."""

    name: str
    reason: str

    def available(self) -> str | None:
        return self.reason

    def run(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - never called
        raise RuntimeError(self.reason)


def qonnx_level(model_onnx: Path) -> QonnxLevel:
    """QONNX graph executed by qonnx's reference executor."""
    return QonnxLevel(Path(model_onnx))


def standard_levels(model_onnx: Path, build_dir: Path | None, skip: tuple[str, ...] = ()) -> list:
    """The ladder for an export (and optionally build) folder, in order.

    Append more level objects (e.g. from fewerbits.hw.rtlsim) to the returned list; the RTL
    placeholders are replaced by name if a provider gives a level with the same name."""
    levels: list = [QonnxLevel(Path(model_onnx)), OnnxRuntimeLevel(Path(model_onnx))]
    for name, steps in FINN_LEVEL_STEPS.items():
        if build_dir is None:
            levels.append(SkippedLevel(name, "no build folder (run `fewerbits build` first)"))
        else:
            levels.append(FinnGraphLevel(name, Path(build_dir), steps))
    rtl = _rtl_levels(build_dir)
    for name, reason in RTL_LEVELS.items():
        levels.append(rtl.get(name) or SkippedLevel(name, reason))
    from fewerbits.compat.finn import env as finn_env

    for name, reason in VIVADO_LEVELS.items():
        if finn_env.vivado_available() and finn_env.vitis_hls_available():
            reason = "Vivado found, but fewerbits does not drive FINN's cppsim/xsim levels yet"
        levels.append(SkippedLevel(name, reason))
    unknown = set(skip) - {lv.name for lv in levels}
    if unknown:
        raise VerifyInputError(
            f"--skip {', '.join(sorted(unknown))}: no such level; levels are {', '.join(lv.name for lv in levels)}"
        )
    return [
        SkippedLevel(lv.name, f"not requested (--skip {lv.name})") if lv.name in skip else lv
        for lv in levels
    ]


def _rtl_levels(build_dir: Path | None) -> dict:
    """The Verilator levels of fewerbits.hw.rtlsim (issue 6) for a build folder."""
    if build_dir is None:
        return {}
    from fewerbits.hw.rtlsim.levels import rtl_nodes_level, rtl_stitched_level

    return {
        lv.name: lv
        for lv in (rtl_nodes_level(Path(build_dir)), rtl_stitched_level(Path(build_dir)))
    }


def as_level(name: str, fn) -> FunctionLevel:
    """Wrap a plain function as a level (for tests and user extensions)."""
    return FunctionLevel(name, fn)


# ---- a whole directory ------------------------------------------------------------------------

VERIFY_JSON = "verify.json"


class VerifyInputError(FewerbitsError):
    """A folder or input file `fewerbits verify` cannot use (one line)."""


def resolve_dirs(d: Path) -> tuple[Path, Path | None]:
    """(export folder, build folder or None) for a build, export or run folder."""
    d = Path(d)
    if not d.is_dir():
        raise VerifyInputError(f"{d} is not a folder; give a build, export or run folder")
    if (d / "intermediate_models").is_dir():
        for cand in (d.parent / "export", d / "export"):
            if (cand / "export.json").is_file():
                return cand, d
        raise VerifyInputError(
            f"{d} is a build folder but {d.parent / 'export' / 'export.json'} is missing; "
            "export the model next to it with `fewerbits export ... --out "
            f"{d.parent / 'export'}`"
        )
    if (d / "export.json").is_file():
        return d, None
    if (d / "export" / "export.json").is_file():
        b = d / "build"
        return d / "export", b if (b / "intermediate_models").is_dir() else None
    raise VerifyInputError(
        f"{d}: no export.json or intermediate_models/ found; give a folder written by "
        "`fewerbits export`, `fewerbits build` or `fewerbits run`"
    )


def load_inputs(info: dict, input_file: Path | None, samples: int | None) -> np.ndarray:
    """The verification inputs: ``--input X.npy`` or the checkpoint's test split."""
    shape = tuple(info.get("input_shape") or info["input"]["shape"][1:])
    if input_file is not None:
        p = Path(input_file)
        if not p.is_file():
            raise VerifyInputError(f"--input {p}: file not found")
        x = np.load(p)
        if x.ndim == len(shape):
            x = x[None]
        if tuple(x.shape[1:]) != shape:
            raise VerifyInputError(
                f"--input {p}: shape {tuple(x.shape)} does not match the model input "
                f"(N, {', '.join(map(str, shape))}); give a float32 NCHW/NC array"
            )
    elif info.get("dataset"):
        from fewerbits.train.datasets import load_dataset

        df = info.get("data_file")
        x = load_dataset(info["dataset"], Path(df) if df else None).x_test
    else:
        raise VerifyInputError(
            "the model was exported from a factory without a dataset; pass --input X.npy "
            "(float32 inputs of shape N," + ",".join(map(str, shape)) + ")"
        )
    if samples is not None:
        if samples < 1:
            raise VerifyInputError(f"--samples {samples}: give a positive number")
        x = x[:samples]
    return np.ascontiguousarray(x, dtype=np.float32)


def verify_directory(
    d: Path,
    input_file: Path | None = None,
    samples: int | None = None,
    extra_levels: list | None = None,
    progress: bool = True,
    skip: tuple[str, ...] = (),
) -> dict:
    """Run every level available for ``d`` and write ``d/verify.json``; return its content."""
    import json
    import time

    from fewerbits.core.files import write_json
    from fewerbits.export.exporter import source_model
    from fewerbits.verify import DEFAULT_ULP_BOUND, localize, run_ladder, summary_line

    d = Path(d)
    export_dir, build_dir = resolve_dirs(d)
    info = json.loads((export_dir / "export.json").read_text())
    if "source" not in info:
        raise VerifyInputError(
            f"{export_dir / 'export.json'} does not record the PyTorch model it came from; "
            "re-export it with `fewerbits export`"
        )
    x = load_inputs(info, input_file, samples)
    t0 = time.time()
    model = source_model(info["source"])
    ref = pytorch_reference(model, x)
    ref_seconds = time.time() - t0
    levels = standard_levels(export_dir / "model.onnx", build_dir, tuple(skip))
    if extra_levels:
        names = {lv.name: i for i, lv in enumerate(levels)}
        for lv in extra_levels:
            if lv.name in names:
                levels[names[lv.name]] = lv
            else:
                levels.append(lv)
    results = run_ladder(ref, x, levels, progress=progress)
    localize(results, levels, x, levels[0])
    out = {
        "directory": str(d),
        "export": str(export_dir),
        "build": str(build_dir) if build_dir else None,
        "inputs": str(input_file) if input_file else f"{info.get('dataset')} test split",
        "samples": len(x),
        "reference": {"name": "pytorch", "seconds": round(ref_seconds, 3)},
        "ulp_bound": DEFAULT_ULP_BOUND,
        "levels": [r.to_dict() for r in results],
        "all_passed": all(r.status != "fail" for r in results),
        "summary": summary_line(results),
    }
    if build_dir is not None:
        from fewerbits.hw.rtlsim.levels import rtl_numbers

        rtl_levels = [lv for lv in levels if lv.name in RTL_LEVELS]
        out["rtl"] = rtl_numbers(rtl_levels, [r for r in results if r.name in RTL_LEVELS])
    write_json(d / VERIFY_JSON, out)
    return out
