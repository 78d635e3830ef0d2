"""Levels ``finn_onnx``, ``streamlined``, ``hw_graph``, ``folded_hw_graph``: FINN's intermediate
models (saved by the build after each step, ``BuildDir.model_after(step)``) executed node by
node in Python, with specialized HLS/RTL nodes mapped back to their base types (finn-plus has
no exec_mode 'python'; the compute -- weights, thresholds, datatypes -- is untouched)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np

from fewerbits.compat.finn import env as finn_env
from fewerbits.compat.finn.build import is_hw_node, partition_parent
from fewerbits.core.artifacts import BuildDir
from fewerbits.hw.build import steps as S
from fewerbits.hw.build.quant_tags import node_tag
from fewerbits.hw.driver.finn_nodes import base_op_type

from ..level import ActivationTrace, Level, register_level


def to_python_exec(model, tmp_dir: Path, tag: str = "m"):
    """A copy of ``model`` whose specialized nodes are mapped back to their base types,
    recursing into dataflow partitions (each child saved under ``tmp_dir``)."""
    from qonnx.core.modelwrapper import ModelWrapper  # lazy: qonnx/FINN after prepare_finn
    from qonnx.custom_op.registry import getCustomOp

    model = ModelWrapper(model.model.__deepcopy__())
    for i, n in enumerate(model.graph.node):
        n.op_type, n.domain = base_op_type(n.op_type, n.domain)
        if n.op_type == "StreamingDataflowPartition":
            inst = getCustomOp(n)
            child = to_python_exec(ModelWrapper(inst.get_nodeattr("model")), tmp_dir, f"{tag}_{i}")
            path = Path(tmp_dir) / f"{tag}_{i}.onnx"
            child.save(str(path))
            inst.set_nodeattr("model", str(path))
    return model


def whole_network(model, build: BuildDir, tmp_dir: Path):
    """``model``, or -- if it is only the accelerator partition (after
    step_create_dataflow_partition) -- the network around it rebuilt by
    :func:`fewerbits.compat.finn.build.partition_parent` from the model that step was given,
    so the level computes it all."""
    from qonnx.core.modelwrapper import ModelWrapper  # lazy: qonnx/FINN after prepare_finn

    hw_file = build.model_before(S.CREATE_DATAFLOW_PARTITION)
    if not all(is_hw_node(n) for n in model.graph.node) or hw_file is None:
        return model
    parent = partition_parent(ModelWrapper(str(hw_file)), model, tmp_dir)
    return model if parent is None else parent


def _is_thresholding(inst, n) -> bool:
    if n.op_type in ("MultiThreshold", "Thresholding"):
        return True
    if n.op_type in ("MVAU", "VVAU"):
        return inst.get_nodeattr("noActivation") == 0
    return False


class FinnGraphLevel(Level):
    """One of FINN's intermediate models, executed node by node in Python."""

    needs = "build"
    can_trace = True
    #: intermediate models that can serve the level, first found wins
    steps: ClassVar[tuple[str, ...]] = ()

    def __init__(self, export, build: BuildDir) -> None:
        self.build = BuildDir(build) if not isinstance(build, BuildDir) else build
        self._model = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._thresholding_nodes: list | None = None

    @property
    def model_file(self) -> Path | None:
        return self.build.first_model_after(*self.steps)

    def available(self) -> str | None:
        if self.model_file is None:
            return (
                f"no intermediate model {' or '.join(s + '.onnx' for s in self.steps)} in "
                f"{self.build.intermediate} (build did not reach this step)"
            )
        return None

    def load(self):
        """The level's model, ready for Python execution (cached)."""
        if self._model is None:
            from qonnx.core.modelwrapper import ModelWrapper  # lazy: after prepare_finn

            finn_env.prepare_finn(self.build.path)
            self._tmp = tempfile.TemporaryDirectory(prefix="fewerbits-verify-")
            tmp = Path(self._tmp.name)
            model = whole_network(ModelWrapper(str(self.model_file)), self.build, tmp)
            self._model = to_python_exec(model, tmp, self.name)
        return self._model

    def _execute(self, x1: np.ndarray, full: bool = False) -> dict:
        from finn.core.onnx_exec import execute_onnx  # lazy: FINN import after prepare_finn

        m = self.load()
        return execute_onnx(m, {m.graph.input[0].name: x1}, return_full_exec_context=full)

    def _input_shape(self) -> tuple:
        m = self.load()
        return tuple(m.get_tensor_shape(m.graph.input[0].name))

    def run(self, x: np.ndarray) -> np.ndarray:
        oname = self.load().graph.output[0].name
        ishape = self._input_shape()
        outs = [
            self._execute(x[i : i + 1].astype(np.float32).reshape(ishape))[oname]
            for i in range(len(x))
        ]
        return np.concatenate(outs)

    def nodes_in_order(self) -> list[tuple[object, object, str]]:
        """(node, owning model, key of its first output in the full execution context) for
        every node, dataflow partitions expanded (FINN prefixes their tensors with the
        partition node's name; partition outputs keep the parent's name)."""
        from qonnx.core.modelwrapper import ModelWrapper  # lazy: after prepare_finn
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

    def _thresholding(self) -> list[tuple[str, str, str, tuple[str, ...] | None, str | None]]:
        """(node name, context key, datatype, layout, quantizer tag) of every thresholding
        node, in graph order (cached: the graph does not change)."""
        if self._thresholding_nodes is None:
            from qonnx.custom_op.registry import getCustomOp  # lazy: after prepare_finn

            found = []
            for n, owner, key in self.nodes_in_order():
                if not n.domain or n.domain == "ai.onnx":
                    continue
                if not _is_thresholding(getCustomOp(n), n):
                    continue
                layout = owner.get_tensor_layout(n.output[0])
                dtype = owner.get_tensor_datatype(n.output[0]).name
                found.append(
                    (n.name, key, dtype, tuple(layout) if layout else None, node_tag(owner, n))
                )
            self._thresholding_nodes = found
        return self._thresholding_nodes

    def _execute_full(self, x1: np.ndarray) -> dict:
        """The full execution context of one sample, dataflow partitions included."""
        from qonnx.custom_op.registry import getCustomOp  # lazy: after prepare_finn

        m = self.load()
        for n in m.graph.node:
            if n.op_type == "StreamingDataflowPartition":
                getCustomOp(n).set_nodeattr("return_full_exec_context", 1)
        return self._execute(x1.astype(np.float32).reshape(self._input_shape()), full=True)

    def _traces(self, ctx: dict) -> list[ActivationTrace]:
        return [
            ActivationTrace(name, ctx[key], dtype=dtype, layout=layout, tag=tag)
            for name, key, dtype, layout, tag in self._thresholding()
        ]

    def trace(self, x1: np.ndarray) -> list[ActivationTrace]:
        """Output of every thresholding node (integer activation codes) on one sample."""
        return self._traces(self._execute_full(x1))

    def run_traced(self, x: np.ndarray) -> Iterator[tuple[np.ndarray, list[ActivationTrace]]]:
        """(output, trace) of every sample from one execution each (the output is the same
        tensor :meth:`run` returns)."""
        oname = self.load().graph.output[0].name
        for i in range(len(x)):
            ctx = self._execute_full(x[i : i + 1])
            yield np.asarray(ctx[oname]), self._traces(ctx)


@register_level
class FinnOnnxLevel(FinnGraphLevel):
    """QONNX converted to FINN's dialect (MultiThreshold activations)."""

    name = "finn_onnx"
    rank = 30
    steps = (S.TIDY_UP, S.QONNX_TO_FINN)


@register_level
class StreamlinedLevel(FinnGraphLevel):
    """After streamlining and the exact-threshold fix."""

    name = "streamlined"
    rank = 40
    steps = (S.FIX_THRESHOLDS, S.STREAMLINE)


@register_level
class HwGraphLevel(FinnGraphLevel):
    """After conversion to FINN hardware layers (and the dataflow partition)."""

    name = "hw_graph"
    rank = 50
    steps = (S.CREATE_DATAFLOW_PARTITION, S.CONVERT_TO_HW)


@register_level
class FoldedHwGraphLevel(FinnGraphLevel):
    """The folded, specialized hardware graph as code-generated."""

    name = "folded_hw_graph"
    rank = 60
    steps = (S.HW_CODEGEN, S.GENERATE_ESTIMATE_REPORTS, S.MINIMIZE_BIT_WIDTH)


#: the FINN graph levels by name (for tests and tools)
FINN_GRAPH_LEVELS: dict[str, type[FinnGraphLevel]] = {
    c.name: c for c in (FinnOnnxLevel, StreamlinedLevel, HwGraphLevel, FoldedHwGraphLevel)
}
