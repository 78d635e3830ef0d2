"""What a build reports: FINN's estimates read once, the folding and layer implementations,
and BUILD/report.json + report.md."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from fewerbits.compat.finn.build import is_hw_node
from fewerbits.core.artifacts import BuildDir
from fewerbits.core.files import read_json
from fewerbits.core.report import write_report

from ..boards import Board
from .result import BuildResult

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper


def finn_performance(build_dir: BuildDir) -> dict:
    """FINN's network-level cycle estimates: steady state (max layer cycles), latency
    (critical path), throughput, and the per-layer cycles; {} before the estimate step."""
    perf_file = build_dir.finn_report("network_performance")
    if not perf_file.is_file():
        return {}
    perf = read_json(perf_file)
    layers_file = build_dir.finn_report("layer_cycles")
    return {
        "cycles_per_frame": int(perf["max_cycles"]),
        "latency_cycles": int(perf["critical_path_cycles"]),
        "latency_ns": float(perf["estimated_latency_ns"]),
        "fps": float(perf["estimated_throughput_fps"]),
        "layer_cycles": {k: int(v) for k, v in read_json(layers_file).items()}
        if layers_file.is_file()
        else {},
    }


def read_estimates(build_dir: BuildDir, folding: dict | None = None) -> dict:
    """FPS, latency, resources (total and per layer) from FINN's estimate reports."""
    perf = finn_performance(build_dir)
    if not perf:
        return {}
    res = read_json(build_dir.finn_report("layer_resources"))
    folding = folding or {}
    per_layer = []
    for name, r in res.items():
        if name == "total":
            continue
        per_layer.append(
            {
                "name": name,
                "cycles": int(perf["layer_cycles"].get(name, 0)),
                "luts": float(r.get("LUT", 0)),
                "brams": float(r.get("BRAM_18K", 0)) / 2,
                "dsps": float(r.get("DSP", 0)),
                "urams": float(r.get("URAM", 0)),
                **{k: v for k, v in folding.get(name, {}).items() if k in ("PE", "SIMD")},
            }
        )
    return {
        "fps": perf["fps"],
        "latency_cycles": perf["latency_cycles"],
        "latency_ns": perf["latency_ns"],
        "luts": sum(p["luts"] for p in per_layer),
        "brams": sum(p["brams"] for p in per_layer),
        "dsps": sum(p["dsps"] for p in per_layer),
        "urams": sum(p["urams"] for p in per_layer),
        "per_layer": per_layer,
    }


def folding_of(model: ModelWrapper) -> dict[str, dict[str, int]]:
    """PE/SIMD of every hardware node that has them."""
    from qonnx.custom_op.registry import getCustomOp  # lazy: qonnx import after prepare_finn

    out = {}
    for n in model.graph.node:
        if is_hw_node(n):
            inst = getCustomOp(n)
            attrs = inst.get_nodeattr_types()
            out[n.name] = {a: int(inst.get_nodeattr(a)) for a in ("PE", "SIMD") if a in attrs}
    return out


def implementations(model: ModelWrapper) -> dict[str, str]:
    """op type (HLS or RTL variant) of every hardware node."""
    return {n.name: n.op_type for n in model.graph.node if is_hw_node(n)}


def budget_of(board: Board | None, part: str, fraction: float | None) -> dict | None:
    """The resource budget the build was given (None without a board table)."""
    if board is None:
        return None
    return {
        "part": part,
        "luts": board.luts,
        "brams": board.brams,
        "dsps": board.dsps,
        "urams": board.urams,
        "fraction": fraction,
    }


def write_build_report(out: BuildDir, result: BuildResult) -> None:
    """BUILD/report.json and BUILD/report.md."""
    report = {
        "config": {
            "build": asdict(result.build),
            "part": result.part,
            "model": str(result.model_onnx),
        },
        "accuracy": None,
        "verification": None,
        "estimates": result.estimates,
        "budget": result.budget,
        "steps": {"ran": result.steps.ran, "skipped": result.steps.skipped},
        "folding": result.folding,
        "fit": result.info.get("fit"),
        "uram_weights": result.info.get("uram_weights"),  # --target-fps: MVAUs put in URAM
        "implementations": result.info.get("implementations"),
        "board": result.info.get("board"),  # the open-FPGA board bitstream (hw/board)
        "artifacts": {"final_model": f"{BuildDir.INTERMEDIATE}/{result.final_model.name}"},
    }
    if (out.plots / "folding_frontier.png").is_file():
        report["plots"] = ["plots/folding_frontier.png"]
    write_report(out.path, report)
