"""Budget-driven folding: the parallelism (PE/SIMD) that maximises estimated FPS within a budget.

FINN's ``target_fps`` (``SetFolding``) raises each layer's parallelism until a cycle target is met,
without looking at the device. :func:`fit_folding` instead asks FINN's own per-node estimators
(``get_exp_cycles``, ``lut_estimation``, ``bram_estimation``, ``dsp_estimation``,
``uram_estimation`` through ``node_res_estimation``) for every legal folding of every layer, and
then sweeps the cycles-per-frame target ``T``: for each ``T`` every layer takes its cheapest
folding that meets ``T`` (cost = resource use weighted by how scarce each resource is; the
weights of violated resources are raised a few times, Lagrangian style; a choice still over
budget is then repaired one layer at a time). The smallest ``T`` whose total fits the budget
wins; every ``T`` tried is a point of the explored frontier.

Legal foldings follow FINN: PE divides MH / channels, SIMD divides MW / input channels,
``SIMD >= MW/1024`` for HLS MVAUs, the HLS weight stream at most ``MAX_ALLOWED_AP_INT_W`` bits,
and a depthwise SWG feeding a Pool/VVAU gets the same SIMD as that node's PE (one knob).

On a part with UltraRAM (the budget has URAMs: UltraScale+, e.g. ZCU104's 96) every MVAU whose
weights stream from FINN's memstream (``mem_mode`` internal_decoupled) also has each folding
with its weight memory in URAM (FINN's ``ram_style="ultra"``, which on UltraScale+ needs
``runtime_writeable_weights=1``: URAM has no bitstream initialisation, the driver writes the
weights), estimated by FINN's ``uram_estimation``; the search then trades BRAM against URAM as
against any other resource. The VVAU keeps its (small, K*K*C) weights in BRAM/LUTRAM. With
``--target-fps`` (FINN's SetFolding chooses PE/SIMD), :func:`place_weights` makes the same
BRAM/URAM choice at that folding when its weights overflow the block RAM.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fewerbits.compat.finn import mvau_rtl
from fewerbits.core.errors import FewerbitsError
from fewerbits.core.files import write_json

from .costs import DEFAULT_COST_MODEL, CostModel
from .rtl_lib import FOLDING_AS

#: resources in the order of the cost vectors
RESOURCES = ("luts", "brams", "dsps", "urams")


class FoldingError(FewerbitsError):
    """A folding that cannot be found or applied (budget too small, bad folding file)."""


@dataclass
class Budget:
    """Resource limits (absolute: LUTs, BRAM36 tiles, DSPs, URAMs)."""

    luts: float
    brams: float
    dsps: float
    urams: float
    fraction: float = 1.0

    @classmethod
    def of_board(cls, board, fraction: float) -> Budget:
        return cls(
            board.luts * fraction,
            board.brams * fraction,
            board.dsps * fraction,
            board.urams * fraction,
            fraction,
        )

    def vector(self) -> np.ndarray:
        return np.array([self.luts, self.brams, self.dsps, self.urams], dtype=float)


@dataclass
class Knob:
    """One independently foldable unit: a node (or a node and its linked depthwise SWG)."""

    name: str
    nodes: list[str]
    configs: list[dict[str, dict[str, int]]]  # each: {node: {attr: value}}
    cycles: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n,)
    res: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # (n, 4) LUT,BRAM36,DSP,URAM


@dataclass
class FitResult:
    """The chosen folding, its estimates, and the explored frontier."""

    folding: dict[str, dict[str, int]]
    fps: float
    cycles: int
    totals: dict[str, float]
    budget: dict[str, float]
    frontier: list[dict]
    bottleneck: str
    #: which cost model the budget used (hw/costs.py): name, per op type calibrated or FINN's,
    #: and the calibration's date and tool versions
    cost_model: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, int(n) + 1) if n % d == 0]


def _estimate(inst, fpgapart: str, cost: CostModel | None = None) -> tuple[int, np.ndarray]:
    """Cycles (FINN's ``get_exp_cycles``) and LUT, BRAM36, DSP, URAM by the cost model."""
    return int(inst.get_exp_cycles()), (cost or CostModel("finn")).estimate(inst, fpgapart)


#: ops folded by PE over channels, together with their depthwise window generator (FINN's and
#: the RTL library's, hw/rtl_lib)
DEPTHWISE_OPS = ("Pool_hls", "VVAU_hls", "VVAU_rtl", "MaxPool_rtl", "VVAUFabric_rtl")


#: the node attributes that put an MVAU's weight memory into UltraRAM (non-Versal FINN parts)
URAM_ATTRS = {"ram_style": "ultra", "runtime_writeable_weights": 1}


def uram_capable(inst) -> bool:
    """An MVAU whose weights FINN can hold in URAM (``ram_style="ultra"``: memstream, i.e.
    ``mem_mode`` internal_decoupled)."""
    return (
        inst.onnx_node.op_type in ("MVAU_hls", "MVAU_rtl")
        and inst.get_nodeattr("mem_mode") == "internal_decoupled"
    )


def _set(inst, attr: str, value) -> None:
    inst.set_nodeattr(attr, value if isinstance(value, str) else int(value))


def _node_options(model, node) -> list[dict[str, int]] | None:
    """Legal {attr: value} foldings of one node, or None if the node is not foldable here."""
    from finn.util.basic import MAX_ALLOWED_AP_INT_W
    from qonnx.custom_op.registry import getCustomOp

    op = node.op_type
    if op in FOLDING_AS and not op.startswith("MVAU"):
        op = FOLDING_AS[op]  # this project's RTL layers fold as the FINN op they implement
    inst = getCustomOp(node)
    if op.startswith("MVAU"):  # MVAU_hls, MVAU_rtl, MVAUBinary_rtl (hw/rtl_lib)
        mw, mh = inst.get_nodeattr("MW"), inst.get_nodeattr("MH")
        wbits = inst.get_input_datatype(1).bitwidth()
        opts = []
        for simd in _divisors(mw):
            if op == "MVAU_hls" and simd < mw / 1024:
                continue
            if op == "MVAU_rtl" and inst.get_nodeattr("pumpedCompute") and simd == 1:
                continue
            if not mvau_rtl.simd_allowed(op, mw, simd) and len(_divisors(mw)) > 1:
                continue  # FINN's MVAU_rtl output queue overflows (compat/finn/mvau_rtl.py)
            for pe in _divisors(mh):
                if (
                    op == "MVAU_hls"
                    and inst.get_nodeattr("mem_mode") == "internal_decoupled"
                    and pe * simd * wbits > MAX_ALLOWED_AP_INT_W
                ):
                    continue
                opts.append({"SIMD": simd, "PE": pe})
        return opts
    if op.startswith("ConvolutionInputGenerator"):
        if inst.get_nodeattr("depthwise"):
            return None  # folded together with its Pool/VVAU consumer
        return [{"SIMD": s} for s in _divisors(inst.get_nodeattr("IFMChannels"))]
    if op.startswith("FMPadding"):
        return [{"SIMD": s} for s in _divisors(inst.get_nodeattr("NumChannels"))]
    if op.startswith("Thresholding"):
        return [{"PE": p} for p in _divisors(inst.get_nodeattr("NumChannels"))]
    if op == "LabelSelect_hls":
        return [{"PE": p} for p in _divisors(inst.get_nodeattr("Labels"))]
    if op in DEPTHWISE_OPS:
        return [{"PE": p} for p in _divisors(inst.get_nodeattr("Channels"))]
    if op.startswith("Elementwise") or op in ("DuplicateStreams_hls", "GlobalAccPool_hls"):
        try:
            ch = int(inst.get_nodeattr("NumChannels"))
        except AttributeError:
            ch = int(inst.get_normal_output_shape()[-1])
        return [{"PE": p} for p in _divisors(ch)]
    return None


def _current_mvau_folding(model, node) -> list[dict[str, int]] | None:
    """The one folding a node has now, for a URAM-capable MVAU (every other node: fixed)."""
    from qonnx.custom_op.registry import getCustomOp

    inst = getCustomOp(node)
    if not uram_capable(inst):
        return None
    return [{a: int(inst.get_nodeattr(a)) for a in ("SIMD", "PE")}]


def make_knobs(
    model,
    fpgapart: str,
    cost: CostModel | None = None,
    urams: bool = False,
    node_options=_node_options,
) -> tuple[list[Knob], dict[str, tuple[int, np.ndarray]]]:
    """Knobs with the estimate (by ``cost``, default FINN's) of every option, and the fixed
    (unfoldable) nodes' estimates. With ``urams`` (the part has UltraRAM) a URAM-capable MVAU
    has every folding twice: weights in BRAM/LUTRAM as FINN chooses, and in URAM
    (:data:`URAM_ATTRS`). ``node_options(model, node)``: a node's foldings (None: fixed).
    Works on a copy: the model's own attributes are not changed."""
    from finn.util.fpgadataflow import is_hls_node, is_rtl_node
    from qonnx.custom_op.registry import getCustomOp

    model = copy.deepcopy(model)
    knobs: list[Knob] = []
    fixed: dict[str, tuple[int, np.ndarray]] = {}
    linked: set[str] = set()
    hw_nodes = [n for n in model.graph.node if is_hls_node(n) or is_rtl_node(n)]
    for node in hw_nodes:
        opts = node_options(model, node)
        if opts is None:
            continue
        names = [node.name]
        if urams and uram_capable(getCustomOp(node)):
            opts = opts + [{**o, **URAM_ATTRS} for o in opts]
        configs = [{node.name: o} for o in opts]
        if node.op_type in DEPTHWISE_OPS or FOLDING_AS.get(node.op_type) in DEPTHWISE_OPS:
            swg = model.find_producer(node.input[0])
            if swg is not None and swg.op_type.startswith("ConvolutionInputGenerator"):
                if getCustomOp(swg).get_nodeattr("depthwise"):
                    names.append(swg.name)
                    linked.add(swg.name)
                    configs = [{node.name: o, swg.name: {"SIMD": o["PE"]}} for o in opts]
        knobs.append(Knob(node.name, names, configs))
    by_name = {n.name: n for n in hw_nodes}
    for k in knobs:
        cyc, res = [], []
        for cfg in k.configs:
            c_max, r_sum = 0, np.zeros(4)
            for name, attrs in cfg.items():
                inst = getCustomOp(by_name[name])
                if name == k.name and urams and uram_capable(inst):
                    for a, v in {"ram_style": "auto", "runtime_writeable_weights": 0}.items():
                        _set(inst, a, attrs.get(a, v))  # the BRAM options: FINN's defaults
                for a, v in attrs.items():
                    _set(inst, a, v)
                c, r = _estimate(inst, fpgapart, cost)
                c_max, r_sum = max(c_max, c), r_sum + r
            cyc.append(c_max)
            res.append(r_sum)
        k.cycles, k.res = np.array(cyc, dtype=np.int64), np.array(res, dtype=float)
    in_knobs = {n for k in knobs for n in k.nodes}
    for node in hw_nodes:
        if node.name not in in_knobs:
            fixed[node.name] = _estimate(getCustomOp(node), fpgapart, cost)
    return knobs, fixed


def _choose(knobs: list[Knob], t: int, w: np.ndarray) -> list[int] | None:
    """Per knob, the cheapest option (weighted cost) with cycles <= t; None if one cannot."""
    choice = []
    for k in knobs:
        ok = np.flatnonzero(k.cycles <= t)
        if ok.size == 0:
            return None
        cost = k.res[ok] @ w + 1e-9 * k.cycles[ok]
        choice.append(int(ok[np.argmin(cost)]))
    return choice


def _repair(
    knobs: list[Knob], choice: list[int], t: int, base: np.ndarray, cap: np.ndarray
) -> list[int] | None:
    """Greedy repair of an over-budget choice at cycle target ``t``: repeatedly switch the one
    knob whose move (to any option meeting ``t``) removes the most excess (relative to the
    budget) per unit of resources it adds, until the total fits; None if no move helps.

    The reweighting alone flips every layer of one shape at the same price ratio (MobileNet's
    five identical 512x512 pointwise convs go BRAM -> URAM -> BRAM together); moving them one
    at a time finds the mixes in between."""
    scale = np.where(cap > 0, cap, 1.0)
    choice = list(choice)
    tot = base + sum((k.res[i] for k, i in zip(knobs, choice, strict=True)), np.zeros(4))
    for _ in range(4 * len(knobs) + 1):
        excess = np.maximum(tot - cap, 0.0) / scale
        if not (excess > 1e-12).any():
            return choice
        best = None  # (score, knob index, option)
        for ki, k in enumerate(knobs):
            ok = np.flatnonzero(k.cycles <= t)
            delta = k.res[ok] - k.res[choice[ki]]
            gain = excess.sum() - (np.maximum(tot + delta - cap, 0.0) / scale).sum(axis=1)
            added = (np.maximum(delta, 0.0) / scale).sum(axis=1) + 1e-9
            score = np.where(gain > 1e-12, gain / added, -1.0)
            j = int(np.argmax(score))
            if score[j] > 0 and (best is None or score[j] > best[0]):
                best = (score[j], ki, int(ok[j]))
        if best is None:
            return None
        _, ki, j = best
        tot = tot + knobs[ki].res[j] - knobs[ki].res[choice[ki]]
        choice[ki] = j
    return None


def search(
    knobs: list[Knob],
    fixed: dict[str, tuple[int, np.ndarray]],
    budget: Budget,
    clk_ns: float,
    reweight_rounds: int = 8,
) -> tuple[list[int] | None, list[dict]]:
    """Sweep cycle targets; return the best feasible choice (index per knob) and the frontier."""
    cap = budget.vector()
    fixed_cyc = max((c for c, _ in fixed.values()), default=1)
    fixed_res = sum((r for _, r in fixed.values()), np.zeros(4))
    targets = sorted({int(c) for k in knobs for c in k.cycles if c >= fixed_cyc} | {fixed_cyc})
    scale = np.where(cap > 0, cap, 1.0)
    best, best_cyc, frontier = None, None, []
    for t in reversed(targets):  # slow -> fast
        w = 1.0 / scale
        point = None
        for _ in range(reweight_rounds):
            choice = _choose(knobs, t, w)
            if choice is None:
                break
            tot = fixed_res + sum(
                (k.res[i] for k, i in zip(knobs, choice, strict=True)), np.zeros(4)
            )
            cyc = max([fixed_cyc] + [int(k.cycles[i]) for k, i in zip(knobs, choice, strict=True)])
            over = tot > cap + 1e-9
            point = (choice, tot, cyc, not over.any())
            if not over.any():
                break
            w = w * np.where(over, 4.0, 1.0)
        if point is not None and not point[3]:
            fixed_up = _repair(knobs, point[0], t, fixed_res, cap)
            if fixed_up is not None:
                tot = fixed_res + sum(
                    (k.res[i] for k, i in zip(knobs, fixed_up, strict=True)), np.zeros(4)
                )
                cyc = max(
                    [fixed_cyc] + [int(k.cycles[i]) for k, i in zip(knobs, fixed_up, strict=True)]
                )
                point = (fixed_up, tot, cyc, True)
        if point is None:
            continue
        choice, tot, cyc, ok = point
        frontier.append(
            {
                "target_cycles": t,
                "cycles": cyc,
                "fps": 1e9 / (clk_ns * cyc),
                **dict(zip(RESOURCES, (float(x) for x in tot), strict=True)),
                "feasible": bool(ok),
            }
        )
        if ok and (best_cyc is None or cyc < best_cyc):
            best, best_cyc = choice, cyc
    return best, frontier


def fit_folding(
    model, fpgapart: str, budget: Budget, clk_ns: float, cost_model: str = DEFAULT_COST_MODEL
) -> FitResult:
    """The folding with the highest estimated FPS whose LUT/BRAM/DSP/URAM estimates (by
    ``cost_model``: ``synth``, FINN's calibrated by Yosys, or ``finn``) fit ``budget``."""
    cost = CostModel(cost_model)
    knobs, fixed = make_knobs(model, fpgapart, cost, urams=budget.urams > 0)
    choice, frontier = search(knobs, fixed, budget, clk_ns)
    if choice is None:
        least = min(frontier, key=lambda p: max(p[r] / max(c, 1e-9) for r, c in _caps(budget)))
        need = ", ".join(
            f"{r} {least[r]:,.4g} > {c:,.4g}" for r, c in _caps(budget) if least[r] > c + 1e-9
        )
        raise FoldingError(
            f"--fit {budget.fraction:g}: no folding fits the budget even fully folded ({need}, "
            f"cost model {cost.name}); raise --fit, choose a larger --board/--part, or use a "
            "smaller model"
        )
    folding: dict[str, dict[str, int]] = {}
    for k, i in zip(knobs, choice, strict=True):
        for name, attrs in k.configs[i].items():
            folding.setdefault(name, {}).update(attrs)
    cyc = int(
        max(
            [c for c, _ in fixed.values()]
            + [k.cycles[i] for k, i in zip(knobs, choice, strict=True)]
        )
    )
    totals = sum((k.res[i] for k, i in zip(knobs, choice, strict=True)), np.zeros(4)) + sum(
        (r for _, r in fixed.values()), np.zeros(4)
    )
    per = {k.name: int(k.cycles[i]) for k, i in zip(knobs, choice, strict=True)}
    per.update({n: c for n, (c, _) in fixed.items()})
    return FitResult(
        folding=folding,
        fps=1e9 / (clk_ns * cyc),
        cycles=cyc,
        totals=dict(zip(RESOURCES, (float(x) for x in totals), strict=True)),
        budget={
            **dict(zip(RESOURCES, (float(x) for x in budget.vector()), strict=True)),
            "fraction": budget.fraction,
        },
        frontier=frontier,
        bottleneck=max(per, key=per.get),
        cost_model=cost.describe(),
    )


def place_weights(
    model, fpgapart: str, budget: Budget, clk_ns: float, cost_model: str = DEFAULT_COST_MODEL
) -> list[str]:
    """At the model's own folding (FINN's ``SetFolding``: ``--target-fps``), when the weights
    overflow the budget's block RAM on a part with UltraRAM: move MVAU weight memories to URAM
    (:data:`URAM_ATTRS`) as ``--fit`` does -- the same knobs, costs and search, each MVAU's
    only choice being where its weights live; only BRAM and URAM are budgeted (SetFolding
    already chose the LUTs and DSPs). Sets the attributes on ``model`` (in place) and returns
    the names moved: ``[]`` when BRAM suffices, the part has no URAM, or nothing fits."""
    if budget.urams <= 0:
        return []
    if model_estimates(model, fpgapart, clk_ns, cost_model)["brams"] <= budget.brams + 1e-9:
        return []
    cost = CostModel(cost_model)
    knobs, fixed = make_knobs(model, fpgapart, cost, True, _current_mvau_folding)
    unlimited = 1e18  # LUTs and DSPs: not this placement's business
    memory = Budget(unlimited, budget.brams, unlimited, budget.urams, budget.fraction)
    choice, _ = search(knobs, fixed, memory, clk_ns)
    if choice is None:
        return []
    moved = [
        name
        for k, i in zip(knobs, choice, strict=True)
        for name, attrs in k.configs[i].items()
        if attrs.get("ram_style") == URAM_ATTRS["ram_style"]
    ]
    apply_folding(model, dict.fromkeys(moved, URAM_ATTRS))
    return moved


def _caps(budget: Budget) -> list[tuple[str, float]]:
    return list(zip(RESOURCES, budget.vector(), strict=True))


def folding_config(folding: dict[str, dict[str, int]]) -> dict:
    """FINN's folding-config JSON (usable as ``folding_config_file`` / ``--folding``)."""
    return {"Defaults": {}, **{n: dict(a) for n, a in sorted(folding.items())}}


def apply_folding(model, folding: dict[str, dict[str, int]]):
    """Set the PE/SIMD attributes of ``folding`` on the model (in place); return it."""
    from qonnx.custom_op.registry import getCustomOp

    for node in model.graph.node:
        for a, v in folding.get(node.name, {}).items():
            _set(getCustomOp(node), a, v)
    return model


def check_folding_file(model, path: Path) -> dict:
    """Load a folding file and check that every node it names is in the graph and its PE/SIMD
    values are legal; raise a one-line :class:`FoldingError` otherwise."""
    path = Path(path)
    try:
        cfg = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise FoldingError(f"--folding {path}: cannot read it as JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise FoldingError(f"--folding {path}: expected a JSON object {{node: {{PE, SIMD}}}}")
    names = {n.name for n in model.graph.node}
    unknown = sorted(k for k in cfg if k != "Defaults" and k not in names)
    if unknown:
        raise FoldingError(
            f"--folding {path}: node(s) {', '.join(unknown)} not in the graph; "
            f"the foldable nodes are {', '.join(sorted(_foldable_names(model)))}"
        )
    by_name = {n.name: n for n in model.graph.node}
    for name, attrs in cfg.items():
        if name == "Defaults" or not isinstance(attrs, dict):
            continue
        opts = _node_options(model, by_name[name]) or []
        fold = {a: v for a, v in attrs.items() if a in ("PE", "SIMD")}
        if fold and opts and not any(all(o.get(a) == v for a, v in fold.items()) for o in opts):
            raise FoldingError(
                f"--folding {path}: node {name} cannot use {fold} (PE must divide the output "
                "channels/MH, SIMD the input channels/MW)"
            )
    return cfg


def avoid_mvau_rtl_overflow(model) -> list[str]:
    """Lower SIMD of every ``MVAU_rtl`` FINN's SetFolding left at ``SIMD == MW`` to the largest
    smaller divisor (compat/finn/mvau_rtl.py); the names changed."""
    from qonnx.custom_op.registry import getCustomOp

    changed = []
    for node in model.graph.node:
        if node.op_type != "MVAU_rtl":
            continue
        inst = getCustomOp(node)
        mw, simd = int(inst.get_nodeattr("MW")), int(inst.get_nodeattr("SIMD"))
        if not mvau_rtl.simd_allowed(node.op_type, mw, simd):
            inst.set_nodeattr("SIMD", max(d for d in _divisors(mw) if d < mw))
            changed.append(node.name)
    return changed


def illegal_folding(model) -> list[str]:
    """Every hardware node whose PE/SIMD (as FINN's SetFolding or a user left them) is not a
    legal folding -- "NODE: PE=8 does not divide 28" -- to refuse before anything is published.
    Nodes --fit knows are checked against their legal options, any other node with PE/SIMD
    against its input's channel count."""
    from finn.util.fpgadataflow import is_hls_node, is_rtl_node
    from qonnx.custom_op.registry import getCustomOp

    bad = []
    for node in model.graph.node:
        if not (is_hls_node(node) or is_rtl_node(node)):
            continue
        inst = getCustomOp(node)
        attrs = inst.get_nodeattr_types()
        cur = {a: int(inst.get_nodeattr(a)) for a in ("PE", "SIMD") if a in attrs}
        if not cur:
            continue
        opts = _node_options(model, node)
        if node.op_type == "MVAU_rtl" and "SIMD" in cur:
            why = mvau_rtl.problem(node.op_type, int(inst.get_nodeattr("MW")), cur["SIMD"])
            if why:
                bad.append(f"{node.name}: {why}")
                continue
        if opts:
            keys = set(opts[0])
            fold = {a: v for a, v in cur.items() if a in keys}
            if fold and fold not in [{a: o[a] for a in fold} for o in opts]:
                bad.append(
                    f"{node.name}: {fold} is not a legal folding (PE must divide the "
                    "output channels/MH, SIMD the input channels/MW)"
                )
            continue
        if opts is None and node.op_type.startswith("ConvolutionInputGenerator"):
            ch = int(inst.get_nodeattr("IFMChannels"))
        else:
            shape = model.get_tensor_shape(node.input[0]) or [1]
            ch = int(shape[-1])
        for a, v in cur.items():
            if v < 1 or ch % v:
                bad.append(f"{node.name}: {a}={v} does not divide {ch}")
    return bad


def _foldable_names(model) -> list[str]:
    return [n.name for n in model.graph.node if _node_options(model, n) is not None]


def plot_frontier(
    frontier: list[dict], budget: dict, out_png: Path, cost_label: str = "finn"
) -> Path | None:
    """FPS vs resource use (fraction of the part, under the ``cost_label`` cost model) of every
    explored target; chosen point marked. The y-axis ends just above the whole part (or twice
    the budget), so the budget region stays readable; a point beyond it is drawn on the top
    edge as a triangle."""
    if not frontier:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    fps = [p["fps"] for p in frontier]
    top = 1.1 * max(1.0, 2 * budget.get("fraction", 0.5))
    for r, colour in zip(("luts", "brams", "dsps"), ("#3b6ea8", "#c0504d", "#6a9f3a"), strict=True):
        full = budget[r] / max(budget.get("fraction", 1.0), 1e-9)
        if full <= 0:
            continue
        use = [p[r] / full for p in frontier]
        ax.plot(fps, [min(u, top) for u in use], ".-", color=colour, label=r.upper(), lw=0.8)
        over = [(f, top) for f, u in zip(fps, use, strict=True) if u > top]
        if over:
            ax.plot(*zip(*over, strict=True), "^", color=colour, ms=6, clip_on=False)
    ax.set_ylim(0, top)
    if "fraction" in budget:
        ax.axhline(budget["fraction"], color="k", ls="--", lw=0.8, label="budget")
    feas = [p for p in frontier if p["feasible"]]
    if feas:
        best = max(feas, key=lambda p: p["fps"])
        ax.axvline(
            best["fps"], color="#888", lw=0.8, ls=":", label=f"chosen {best['fps']:,.0f} FPS"
        )
    ax.set_xscale("log")
    ax.set_xlabel("estimated FPS")
    ax.set_ylabel("fraction of the part (▲: beyond the axis)")
    ax.set_title(f"Explored folding frontier ({cost_label} cost model)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def write_fit(out_dir: Path, res: FitResult) -> None:
    """DIR/folding.json (FINN format), DIR/folding_frontier.json, DIR/plots/folding_frontier.png."""
    out_dir = Path(out_dir)
    write_json(out_dir / "folding.json", folding_config(res.folding))
    write_json(out_dir / "folding_frontier.json", res.to_dict())
    plot_frontier(
        res.frontier,
        res.budget,
        out_dir / "plots" / "folding_frontier.png",
        res.cost_model.get("name", "finn"),
    )


def model_estimates(model, fpgapart: str, clk_ns: float, cost_model: str = "finn") -> dict:
    """Total estimates (FINN's, or by ``cost_model``) of a folded model: fps, cycles, luts,
    brams (BRAM36), dsps, urams."""
    from finn.util.fpgadataflow import is_hls_node, is_rtl_node
    from qonnx.custom_op.registry import getCustomOp

    cost = CostModel(cost_model)
    cyc, tot = 1, np.zeros(4)
    for n in model.graph.node:
        if is_hls_node(n) or is_rtl_node(n):
            c, r = _estimate(getCustomOp(n), fpgapart, cost)
            cyc, tot = max(cyc, c), tot + r
    return {
        "fps": 1e9 / (clk_ns * cyc),
        "cycles": cyc,
        **dict(zip(RESOURCES, (float(x) for x in tot), strict=True)),
    }


def finn_target_fps_search(
    model, fpgapart: str, budget: Budget, clk_ns: float, cost_model: str = "finn"
) -> dict:
    """FINN's own ``SetFolding`` (what ``target_fps`` runs) at log-spaced FPS targets; the
    fastest result whose estimates (by ``cost_model``) fit ``budget`` (the baseline for
    benchmarks/folding.py)."""
    from finn.transformation.fpgadataflow.set_folding import SetFolding
    from finn.util.logging import log

    cap = budget.vector()
    best = None
    level = log.level
    log.setLevel(50)
    try:
        for fps in np.geomspace(100, 1e8, 49):
            cycles = int(max(1, round(1e9 / (clk_ns * fps))))
            m = copy.deepcopy(model).transform(SetFolding(cycles, two_pass_relaxation=True))
            est = model_estimates(m, fpgapart, clk_ns, cost_model)
            fits = all(est[r] <= c + 1e-9 for r, c in zip(RESOURCES, cap, strict=True))
            if fits and (best is None or est["fps"] > best["fps"]):
                best = {**est, "target_fps": float(fps)}
    finally:
        log.setLevel(level)
    return best or {}
