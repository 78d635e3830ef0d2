"""Levels ``rtl_nodes`` and ``rtl_stitched``: FINN's generated RTL simulated by Verilator.

* ``rtl_nodes``: the dataflow graph executed node by node; every RTL node runs as its own
  Verilator model (random valid/ready stalls) and each output is checked bit-exact against
  FINN's Python execution of that node before it feeds the next node. HLS nodes are executed in
  Python and listed as skipped ("needs Vitis HLS"), never as passed.
* ``rtl_stitched``: all layers in one Verilator model, frames streamed back to back; available
  only when every dataflow layer is RTL.

Both return the whole model's output (software nodes around the accelerator included), so the
ladder compares them with PyTorch like every other level. Their ``numbers()`` go to the
report's ``rtl_simulation`` section.
"""

from __future__ import annotations

import numpy as np

from fewerbits.core.artifacts import BuildDir
from fewerbits.core.compare import LevelResult
from fewerbits.hw.build import steps as S
from fewerbits.hw.build.report import finn_performance
from fewerbits.hw.rtlsim import design
from fewerbits.hw.rtlsim.locate import MAX_FRAMES, locate_mismatch, locate_node
from fewerbits.hw.rtlsim.sim import (
    BuildGraphs,
    Stitched,
    python_exec_ports,
    simulate_node,
)
from fewerbits.hw.rtlsim.verilator import RtlSimError, verilator_root
from fewerbits.hw.sim import DEFAULT_SIMULATOR, get_backend

from ..level import Level, register_level


class RtlLevel(Level):
    """Common to the Verilator levels: a code-generated build and the simulator."""

    needs = "build"
    section = "rtl"

    def __init__(self, export, build: BuildDir) -> None:
        self.build = BuildDir(build) if not isinstance(build, BuildDir) else build
        #: the simulator back end (hw/sim/registry.py; ``fewerbits verify --simulator``)
        self.simulator = DEFAULT_SIMULATOR

    def use_simulator(self, name: str) -> None:
        """Simulate with the back end ``name`` (an unknown name is refused by the registry)."""
        get_backend(name)
        self.simulator = name

    def available(self) -> str | None:
        try:
            verilator_root()
        except RtlSimError as e:
            return str(e)
        why = get_backend(self.simulator).available()
        if why:
            return why
        codegen = self.build.model_after(S.HW_CODEGEN)
        if not codegen.is_file():
            return f"{codegen} missing: build until codegen first"
        return None


@register_level
class RtlNodesLevel(RtlLevel):
    """Every RTL node simulated on its own, chained through the graph."""

    name = "rtl_nodes"
    rank = 70
    intermediates = (
        "not compared with the reference's at this level: each RTL node's output is checked "
        "bit-exact against FINN's Python execution of that node (folded_hw_graph compares "
        "those integers with the reference)"
    )

    #: set by ``fewerbits verify --trace``: a failing node also writes an FST waveform
    waveform = False

    def __init__(self, export, build: BuildDir, stall: tuple[int, int] = (30, 30), seed: int = 0):
        super().__init__(export, build)
        self.stall, self.seed = stall, seed
        self.results: list = []
        self.graphs: BuildGraphs | None = None

    def available(self) -> str | None:
        reason = super().available()
        if reason:
            return reason
        if not any(design.skip_reason(n) is None for n in BuildGraphs(self.build.path).nodes):
            return "no RTL layer in the dataflow graph (all HLS: needs Vitis HLS)"
        return None

    def _dataflow(self, x: np.ndarray) -> np.ndarray:
        """Every layer on its own, in graph order, fed the values its input tensors got from
        the layers before (forks and joins included)."""
        from qonnx.custom_op.registry import getCustomOp  # lazy: after prepare_finn

        g = self.graphs
        model = g.dataflow
        vals = {model.graph.input[0].name: x}
        self.results = []
        wd = self.build.rtlsim.absolute() / "nodes"
        for k, node in enumerate(g.nodes):
            inst = getCustomOp(node)
            streamed = [t for t in node.input if t and model.get_initializer(t) is None]
            ins = [
                vals[t].reshape(len(x), *inst.get_normal_input_shape(i)[1:])
                for i, t in enumerate(streamed)
            ]
            arg = ins[0] if len(ins) == 1 else ins
            r = simulate_node(
                model,
                node,
                wd,
                x=arg,
                stall=self.stall,
                seed=self.seed + k,
                simulator=self.simulator,
            )
            self.results.append(r)
            if r.status == "skipped":
                outs = python_exec_ports(model, node, ins)
            elif r.status == "fail":
                detail = r.reason
                if self.waveform and len(ins) == 1:  # same frames, stalls, seed: debug model
                    out = self.build.rtlsim.absolute() / "mismatch" / node.name
                    m = locate_node(model, node, arg, out, True, self.stall, self.seed + k + 1)
                    detail = m.line() if m.layer else detail
                raise RtlSimError(f"node {node.name} ({node.op_type}): {detail}")
            else:
                outs = r.port_arrays
            vals.update(zip(node.output, outs, strict=True))
        return vals[model.graph.output[0].name]

    def run(self, x: np.ndarray) -> np.ndarray:
        self.graphs = BuildGraphs(self.build.path)
        return self.graphs.run_with(x, self._dataflow)

    def numbers(self, result: LevelResult | None) -> dict:
        est = finn_performance(self.build).get("layer_cycles", {})
        nodes = [r.to_dict() for r in self.results]
        for n in nodes:
            n["estimate_cycles"] = est.get(n["name"])
        return {"simulator": self.simulator, "nodes": nodes}


@register_level
class RtlStitchedLevel(RtlLevel):
    """The whole accelerator in one Verilator model."""

    name = "rtl_stitched"
    rank = 80
    intermediates = (
        "not observable at this level (only the output stream; the per-layer taps of the "
        "mismatch locator are used only to name the layer of a failing sample)"
    )

    def __init__(self, export, build: BuildDir) -> None:
        super().__init__(export, build)
        self.stitched: Stitched | None = None

    def available(self) -> str | None:
        reason = super().available()
        if reason:
            return reason
        skipped = BuildGraphs(self.build.path).skipped()
        if skipped:
            names = ", ".join(f"{s['node']}" for s in skipped)
            return f"not all layers are RTL ({names}: needs Vitis HLS); build with impl_style 'rtl'"
        return None

    #: set by ``fewerbits verify --trace``: a failing run also writes an FST waveform
    waveform = False

    def run(self, x: np.ndarray) -> np.ndarray:
        if self.stitched is None:
            self.stitched = Stitched(self.build.path, simulator=self.simulator)
        return self.stitched.run(x)

    def locate(self, x: np.ndarray, sample: int) -> str:
        """The first layer whose output stream differs from FINN's Python execution, on the
        failing sample and the frames before it (:func:`locate_mismatch`); with
        :attr:`waveform` also the FST file around its first wrong word."""
        first = max(0, sample + 1 - MAX_FRAMES)
        if self.stitched is None:
            self.stitched = Stitched(self.build.path, simulator=self.simulator)
        mid = self.stitched.partition_inputs(x[first : sample + 1])
        out = self.build.rtlsim.absolute() / "mismatch"
        m = locate_mismatch(self.build.path, mid, out, self.waveform, self.stitched)
        if m.frame is not None:
            m.frame += first  # report the sample index of the whole run
        return m.line()

    def numbers(self, result: LevelResult | None) -> dict:
        if self.stitched is None:
            return {}
        t = self.stitched.timing()
        d = {"simulator": self.simulator, **t}
        b = self.stitched.binary
        if b is not None:  # None when the run failed before the model was compiled
            d["build_seconds"], d["cache_hit"] = b.build_seconds, b.cache_hit
        est = finn_performance(self.build)
        if est and t.get("cycles_per_frame"):
            d["estimate_cycles_per_frame"] = est["cycles_per_frame"]
            d["estimate_ratio"] = round(t["cycles_per_frame"] / est["cycles_per_frame"], 4)
            d["estimate_latency_cycles"] = est["latency_cycles"]
            d["latency_ratio"] = round(t["latency_cycles"] / est["latency_cycles"], 4)
        return d
