"""The normalized-energy sweep: records, Pareto front, resume, failing points, energy model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fewerbits.energy import mac_energy_pj
from fewerbits.sweep import (
    Point,
    SweepConfig,
    cheapest_per_accuracy,
    grid,
    pareto_front,
    parse_bits,
    sweep,
)


def brute_force_front(records: list[dict], cost: str) -> set[str]:
    """Labels of the records no other record dominates (accuracy >= and cost <=, not both
    equal): the O(n^2) definition, independent of pareto_front's sort-and-scan."""
    return {
        r["label"]
        for r in records
        if not any(
            o["accuracy"] >= r["accuracy"]
            and o[cost] <= r[cost]
            and (o["accuracy"], o[cost]) != (r["accuracy"], r[cost])
            for o in records
        )
    }


def test_pareto_front_on_synthetic_records():
    recs = [
        {"label": "a", "accuracy": 0.90, "energy_pj": 100.0},
        {"label": "b", "accuracy": 0.85, "energy_pj": 50.0},
        {"label": "c", "accuracy": 0.80, "energy_pj": 60.0},  # dominated by b
        {"label": "d", "accuracy": 0.90, "energy_pj": 120.0},  # dominated by a
        {"label": "e", "accuracy": 0.95, "energy_pj": 500.0},
        {"label": "f", "accuracy": 0.70, "energy_pj": 10.0},
    ]
    front = [r["label"] for r in pareto_front(recs, "energy_pj")]
    assert front == ["f", "b", "a", "e"]
    # dominance: nothing on the front is dominated by anything, everything off it is
    assert set(front) == brute_force_front(recs, "energy_pj")
    ok = [dict(r, status="ok") for r in recs]
    rows = cheapest_per_accuracy(ok, [0.85, 0.9, 0.99])
    assert [r["cheapest"] for r in rows] == ["b", "a", None]


def test_accuracy_levels_grid():
    from fewerbits.sweep import accuracy_levels

    assert accuracy_levels([0.7923, 0.8417, 0.8821]) == [
        0.79,
        0.8,
        0.81,
        0.82,
        0.83,
        0.84,
        0.85,
        0.86,
        0.87,
        0.88,
    ]
    assert accuracy_levels([0.5]) == [0.5] and accuracy_levels([]) == []


def test_grid_and_bits_parsing():
    cfg = SweepConfig(
        schemes=["binarynet", "int"], bits=parse_bits("1x1,2x2,4x4"), widths=[0.5, 1.0]
    )
    pts = grid(cfg)
    assert Point("float", 32, 32, 0.5) in pts and Point("binarynet", 1, 1, 1.0) in pts
    assert sum(p.scheme == "binarynet" for p in pts) == 2  # fixed-bit scheme once per width
    assert len(pts) == 2 * (1 + 1 + 3)
    with pytest.raises(Exception, match="--bits"):
        parse_bits("2by2")


def test_mac_energy_orders_by_bits():
    assert (
        mac_energy_pj("FLOAT32", "FLOAT32")
        > mac_energy_pj("INT8", "INT8")
        > mac_energy_pj("INT4", "INT4")
    )
    assert (
        mac_energy_pj("INT4", "INT4")
        > mac_energy_pj("INT2", "INT2")
        > mac_energy_pj("BIPOLAR", "BIPOLAR")
    )


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory) -> tuple[Path, SweepConfig, list[dict]]:
    out = tmp_path_factory.mktemp("sweep")
    cfg = SweepConfig(
        dataset="mnist-5k",
        schemes=["binarynet", "int", "binaryconnect"],
        bits=[(2, 2), (9, 9)],
        epochs=1,
        max_steps=8,
        include_float=False,
    )
    return out, cfg, sweep(cfg, out, progress=False)


def test_tiny_sweep_records(tiny_sweep):
    out, cfg, recs = tiny_sweep
    by = {r["label"]: r for r in recs}
    assert set(by) == {"binarynet-w1a1-x1", "int-w2a2-x1", "int-w9a9-x1", "binaryconnect-w1a32-x1"}
    for label in ("binarynet-w1a1-x1", "int-w2a2-x1"):
        r = by[label]
        assert r["status"] == "ok", r.get("traceback")
        assert 0 < r["accuracy"] <= 1 and r["fps"] > 0 and r["luts"] > 0 and r["energy_pj"] > 0
    # binary MACs are counted as binary, not float (compat/qonnx/cost.py)
    assert set(by["binarynet-w1a1-x1"]["ops_by_type"]) == {
        "mac_SCALEDINT<8>_BIPOLAR",
        "mac_BIPOLAR_BIPOLAR",
    }
    assert by["binarynet-w1a1-x1"]["weight_bits"] == by["int-w2a2-x1"]["weight_bits"] / 2
    assert by["binarynet-w1a1-x1"]["energy_pj"] < by["int-w2a2-x1"]["energy_pj"]
    # failing points are recorded and did not abort the sweep
    assert by["int-w9a9-x1"]["status"] == "error" and "wbits" in by["int-w9a9-x1"]["error"]
    assert by["binaryconnect-w1a32-x1"]["status"] == "not-deployable"
    data = json.loads((out / "sweep.json").read_text())
    assert [p["label"] for p in data["points"]] == [r["label"] for r in recs]
    assert set(data["pareto_energy"]) <= {"binarynet-w1a1-x1", "int-w2a2-x1"}
    # the front of the ok points, by the definition: non-empty, and exactly the undominated ones
    ok = [r for r in data["points"] if r["status"] == "ok"]
    assert len(ok) == 2 and data["pareto_energy"]
    assert set(data["pareto_energy"]) == brute_force_front(ok, "energy_pj")
    assert len(data["pareto_energy"]) == len(set(data["pareto_energy"]))
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    md = (out / "sweep.md").read_text()
    assert "Cheapest configuration per accuracy level" in md and "int-w9a9-x1" in md


def test_resume_skips_finished_points(tiny_sweep):
    out, cfg, _ = tiny_sweep
    calls = []

    def runner(point, c, o):  # only reached for unfinished points
        calls.append(point.label)
        raise AssertionError("finished point re-run")

    before = {p: (p / "record.json").stat().st_mtime_ns for p in (out / "points").iterdir()}
    recs = sweep(cfg, out, progress=False, runner=runner)
    assert calls == [] and all(r.get("resumed") for r in recs)
    assert before == {p: (p / "record.json").stat().st_mtime_ns for p in (out / "points").iterdir()}


def test_bipolar_weights_counted_as_binary(tiny_sweep, tmp_path):
    """qonnx 1.0.0 counts folded *scaled* BipolarQuant weights (Brevitas' default binary weight
    quantizer has scale 0.1, as in user models) as FLOAT32; the compat pass fixes it."""
    import numpy as np
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.inference_cost import inference_cost

    from fewerbits.energy import estimate_model

    model = ModelWrapper(
        str(tiny_sweep[0] / "points" / "binarynet-w1a1-x1" / "export" / "model.onnx")
    )
    weight_quants = [
        n
        for n in model.graph.node
        if n.op_type == "BipolarQuant" and model.get_initializer(n.input[0]) is not None
    ]
    assert weight_quants
    for n in weight_quants:  # as Brevitas' SignedBinaryWeightPerTensorConst exports it
        model.set_initializer(n.input[1], np.array([0.1], dtype=np.float32))
    scaled = tmp_path / "scaled_binary.onnx"
    model.save(str(scaled))
    raw = inference_cost(str(scaled), discount_sparsity=False)["total_cost"]
    assert "mem_w_FLOAT32" in raw, (
        "qonnx fixed the scaled BipolarQuant cost? drop compat/qonnx/cost.py"
    )
    est = estimate_model(scaled)
    assert (
        all("FLOAT32" not in k for k in est.ops_by_type)
        and est.weight_bits == raw["total_mem_w_elems"]
    )
