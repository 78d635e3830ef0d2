"""Verification levels backed by Verilator (see fewerbits/verify.py for the Level protocol).

* ``rtl_nodes``: the dataflow graph executed node by node; every RTL node runs as its own
  Verilator model (random valid/ready stalls) and each output is checked bit-exact against
  FINN's Python execution of that node before it feeds the next node. HLS nodes are executed in
  Python and listed as skipped ("needs Vitis HLS"), never as passed.
* ``rtl_stitched``: all layers in one Verilator model, frames streamed back to back; available
  only when every dataflow layer is RTL.

Both return the whole model's output (software nodes around the accelerator included), so the
ladder compares them with PyTorch like every other level. :func:`rtl_numbers` gives the figures
for report.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .verilator import RtlSimError


def _common_reason(build_dir: Path) -> str | None:
    try:
        from .verilator import verilator_root

        verilator_root()
    except RtlSimError as e:
        return str(e)
    from .sim import CODEGEN_MODEL

    if not (Path(build_dir) / CODEGEN_MODEL).is_file():
        return f"{Path(build_dir) / CODEGEN_MODEL} missing: build until codegen first"
    return None


class RtlNodesLevel:
    """Every RTL node simulated on its own, chained through the graph."""

    name = "rtl_nodes"

    def __init__(self, build_dir: Path, stall: tuple[int, int] = (30, 30), seed: int = 0):
        self.build_dir = Path(build_dir)
        self.stall, self.seed = stall, seed
        self.results: list = []

    def available(self) -> str | None:
        reason = _common_reason(self.build_dir)
        if reason:
            return reason
        from . import design
        from .sim import BuildGraphs

        g = BuildGraphs(self.build_dir)
        if not any(design.skip_reason(n) is None for n in g.nodes):
            return "no RTL layer in the dataflow graph (all HLS: needs Vitis HLS)"
        return None

    def _dataflow(self, x: np.ndarray) -> np.ndarray:
        from qonnx.custom_op.registry import getCustomOp

        from .sim import python_exec, simulate_node

        g = self.graphs
        cur = x
        self.results = []
        wd = self.build_dir.absolute() / "rtlsim" / "nodes"
        for k, node in enumerate(g.nodes):
            inst = getCustomOp(node)
            cur = cur.reshape(len(x), *inst.get_normal_input_shape(0)[1:])
            r = simulate_node(g.dataflow, node, wd, x=cur, stall=self.stall, seed=self.seed + k)
            self.results.append(r)
            if r.status == "skipped":
                cur = python_exec(g.dataflow, node, cur)
            elif r.status == "fail":
                raise RtlSimError(f"node {node.name} ({node.op_type}): {r.reason}")
            else:
                cur = r.outputs_array
        return cur

    def run(self, x: np.ndarray) -> np.ndarray:
        from .sim import BuildGraphs

        self.graphs = BuildGraphs(self.build_dir)
        return self.graphs.run_with(x, self._dataflow)

    def node_table(self) -> list[dict]:
        return [r.to_dict() for r in self.results]


class RtlStitchedLevel:
    """The whole accelerator in one Verilator model."""

    name = "rtl_stitched"

    def __init__(self, build_dir: Path):
        self.build_dir = Path(build_dir)
        self.stitched = None

    def available(self) -> str | None:
        reason = _common_reason(self.build_dir)
        if reason:
            return reason
        from .sim import BuildGraphs

        skipped = BuildGraphs(self.build_dir).skipped()
        if skipped:
            names = ", ".join(f"{s['node']}" for s in skipped)
            return f"not all layers are RTL ({names}: needs Vitis HLS); build with impl_style 'rtl'"
        return None

    def run(self, x: np.ndarray) -> np.ndarray:
        from .sim import Stitched

        if self.stitched is None:
            self.stitched = Stitched(self.build_dir)
        return self.stitched.run(x)


def rtl_nodes_level(build_dir: Path, stall: tuple[int, int] = (30, 30)) -> RtlNodesLevel:
    """Level ``rtl_nodes`` for a build directory (code-generated)."""
    return RtlNodesLevel(build_dir, stall)


def rtl_stitched_level(build_dir: Path) -> RtlStitchedLevel:
    """Level ``rtl_stitched`` for a build directory (code-generated, all RTL)."""
    return RtlStitchedLevel(build_dir)


def finn_estimates(build_dir: Path) -> dict:
    """FINN's cycle estimates: steady state (max layer cycles) and latency (critical path)."""
    f = Path(build_dir) / "report" / "estimate_network_performance.json"
    if not f.is_file():
        return {}
    perf = json.loads(f.read_text())
    layers_f = Path(build_dir) / "report" / "estimate_layer_cycles.json"
    layers = json.loads(layers_f.read_text()) if layers_f.is_file() else {}
    return {
        "cycles_per_frame": int(perf["max_cycles"]),
        "latency_cycles": int(perf["critical_path_cycles"]),
        "layers": layers,
    }


def rtl_numbers(levels: list, results: list | None = None) -> dict:
    """Numbers for report.json: per level frames, bit-exact count, cycles/frame, estimate
    ratio, frames/s, latency, build time and cache hit; per node results for ``rtl_nodes``."""
    by_name = {r.name: r for r in (results or [])}
    out: dict = {}
    for lv in levels:
        res = by_name.get(lv.name)
        d: dict = {}
        if res is not None:
            d.update(status=res.status, frames=res.samples, bit_exact=res.bit_exact)
            if res.reason:
                d["reason"] = res.reason
        if isinstance(lv, RtlNodesLevel):
            d["nodes"] = lv.node_table()
            est = finn_estimates(lv.build_dir).get("layers", {})
            for n in d["nodes"]:
                n["estimate_cycles"] = est.get(n["name"])
        if isinstance(lv, RtlStitchedLevel) and lv.stitched is not None:
            t = lv.stitched.timing()
            est = finn_estimates(lv.build_dir)
            d.update(t)
            b = lv.stitched.binary
            d["build_seconds"], d["cache_hit"] = b.build_seconds, b.cache_hit
            if est and t.get("cycles_per_frame"):
                d["estimate_cycles_per_frame"] = est["cycles_per_frame"]
                d["estimate_ratio"] = round(t["cycles_per_frame"] / est["cycles_per_frame"], 4)
                d["estimate_latency_cycles"] = est["latency_cycles"]
                d["latency_ratio"] = round(t["latency_cycles"] / est["latency_cycles"], 4)
        out[lv.name] = d
    return out
