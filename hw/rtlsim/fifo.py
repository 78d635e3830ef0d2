"""FIFO sizing by simulation (``fewerbits fifo BUILD``): the stitched accelerator, every
inter-layer FIFO deep, streams back-to-back frames at full input rate (this gives the
accelerator's own rate, cycles/frame), then with the input paced at that rate, once with an
always-ready sink and once with random output back-pressure; each FIFO's maximum occupancy in
the paced runs (finn-rtllib fifo's ``maxcount``, read out by the harness) plus a margin, rounded
(:func:`round_depth`), is its new depth. (At full input rate the FIFO in front of the slowest
layer fills however deep it is: the input outruns the accelerator; a conv net's sliding
windows do that.) The accelerator is then re-simulated with those depths, at full rate and
paced: outputs bit-exact with the deep run (and with FINN's Python execution of the graph) and
cycles/frame unchanged, or the FIFOs that ran full are doubled and it is tried again.

The depths go into the build's folding config (``BUILD/folding.json``) as FINN reads them
(``outFIFODepths`` of the producer, ``inFIFODepths`` of the consumer; FINN's ``InsertFIFO``
takes the larger), and ``BUILD/fifo.json`` reports every FIFO (depth before/after, occupancy,
FINN's LUT/BRAM estimate and the storage flip-flops) and the totals saved versus depth 32.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fewerbits.compat.finn.build import is_hw_node
from fewerbits.core.artifacts import BuildDir
from fewerbits.core.errors import UsageError
from fewerbits.core.files import read_json, write_json
from fewerbits.core.report import write_report

from ..sim import DEFAULT_SIMULATOR, RtlSimError, StreamResult
from . import design
from .sim import CODEGEN_MODEL, Stitched, python_exec, random_input

#: frames streamed per sizing run (the first ones fill the pipeline, the rest are steady state)
FRAMES = 64
#: percent of cycles the sink withholds ready in the back-pressure run
BACKPRESSURE = 30
#: depth of every FIFO in the measuring run: deeper than any occupancy it can reach there
DEEP_MIN = 256
#: frames compared with FINN's Python execution (slow: ~100 frames/s)
PYTHON_FRAMES = 8
#: re-simulations allowed when a sized FIFO ran full and slowed the accelerator down
MAX_ROUNDS = 4
#: FIFOs deeper than this after the measurement are searched smaller (:func:`_search_depths`)
SEARCH_ABOVE = 32
#: the smallest depth the search tries
SEARCH_MIN = 4
FIFO_JSON = "fifo.json"


class FifoSizingError(RtlSimError):
    """Sizing that cannot proceed or whose re-simulation disagrees; one line."""


class FifoOptionError(FifoSizingError, UsageError):
    """A --frames count too small to size by (exit 2)."""


def round_depth(occupancy: int) -> int:
    """Depth for a measured maximum occupancy: + a margin of 2 (or 1/8), then up to what
    finn-rtllib's fifo (StreamingFIFO_rtl) maps well: any depth 2..32 is one SRL32 per bit,
    deeper ones go up to the next power of two (LUTRAM/BRAM address space, and FINN's Vivado
    FIFOs accept only powers of two). A margin never pushes a FIFO that fits in 32 past 32."""
    want = occupancy + max(2, math.ceil(occupancy / 8))
    if want <= 32:
        return want
    return 32 if occupancy < 32 else 1 << (want - 1).bit_length()


@dataclass
class FifoLink:
    """One inter-layer FIFO: where it sits and what the sizing found."""

    index: int
    producer: str
    consumer: str
    width: int  # stream bits
    words_per_frame: int
    depth_before: int
    max_occupancy: int = 0  # deep run, always-ready sink
    max_occupancy_backpressure: int = 0  # deep run, random output back-pressure
    depth_measured: int = 0  # from the occupancy at the accelerator's rate, before the search
    depth: int = 0  # the chosen depth
    cost_before: dict = field(default_factory=dict)
    cost: dict = field(default_factory=dict)


def fifo_cost(depth: int, width: int, part: str) -> dict:
    """FINN's estimate for a StreamingFIFO_rtl of this depth and width (LUT, BRAM36, URAM as
    ``get_fifo_cost`` computes them for fifo.sv's storage choice) plus its storage flip-flops
    as open synthesis builds fifo.sv's shift style (depth x width; FINN estimates no FFs)."""
    from onnx import helper
    from qonnx.custom_op.registry import getCustomOp

    node = helper.make_node(
        "StreamingFIFO_rtl",
        ["i"],
        ["o"],
        domain="finn.custom_op.fpgadataflow.rtl",
        backend="fpgadataflow",
        depth=int(depth),
        folded_shape=[1, 1, int(width)],
        normal_shape=[1, int(width)],
        dataType="BINARY",
    )
    c = getCustomOp(node).get_fifo_cost(part)
    return {
        "luts": float(c.lut),
        "brams": float(c.bram) / 2,  # BRAM_18K -> BRAM36, as the build report counts them
        "urams": float(c.uram),
        "ffs": int(depth) * int(width),
        "style": getCustomOp(node).get_ram_style(),
    }


def _steady_cycles(r: StreamResult) -> float:
    """Cycles/frame over the second half of the frames (the pipeline filled)."""
    n, half = len(r.last_out), len(r.last_out) // 2
    return float((r.last_out[-1] - r.last_out[half]) / max(1, n - 1 - half))


def _python_dataflow(st: Stitched, x: np.ndarray) -> np.ndarray:
    """FINN's Python execution of the dataflow graph, node by node."""
    from qonnx.custom_op.registry import getCustomOp

    cur = x
    for n in st.graphs.nodes:
        cur = cur.reshape(len(x), *getCustomOp(n).get_normal_input_shape(0)[1:])
        cur = python_exec(st.graphs.dataflow, n, cur)
    return cur


def _runs(
    st: Stitched, words: np.ndarray, frames: int, seed: int, interval: int, free=None
) -> list[StreamResult]:
    """[input at full rate (``free`` if given), input paced at one frame per ``interval``
    cycles with an always-ready sink, paced with random sink back-pressure]. The paced runs
    measure what a FIFO must hold at the accelerator's own rate; at full rate the FIFO before
    the slowest layer fills however deep it is (the input outruns the accelerator)."""
    return [
        free if free is not None else st.run_words(words, frames, (0, 0), seed),
        st.run_words(words, frames, (0, 0), seed, interval),
        st.run_words(words, frames, (0, BACKPRESSURE), seed + 1, interval),
    ]


def _paced_max(res: list[StreamResult], link: FifoLink) -> int:
    return max(int(r.fifo_max[link.index]) for r in res[1:])


def write_folding_depths(build: BuildDir, links: list[FifoLink]) -> dict:
    """Write the chosen depths into BUILD/folding.json (created from the model's PE/SIMD when
    the build had none): ``outFIFODepths[0]`` of each producer, ``inFIFODepths[0]`` of each
    consumer. Returns the folding config written."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    model = ModelWrapper(str(build.path / CODEGEN_MODEL))
    cfg = read_json(build.folding) if build.folding.is_file() else {"Defaults": {}}
    nodes = {n.name: n for n in model.graph.node if is_hw_node(n)}

    def attr(name: str, key: str) -> list[int]:
        entry = cfg.setdefault(name, {})
        if key not in entry:
            inst = getCustomOp(nodes[name])
            entry.update(
                {
                    a: int(inst.get_nodeattr(a))
                    for a in ("PE", "SIMD")
                    if a in inst.get_nodeattr_types()
                }
            )
            entry[key] = [int(v) for v in inst.get_nodeattr(key)] or [2]
        return entry[key]

    for link in links:
        attr(link.producer, "outFIFODepths")[0] = link.depth
        attr(link.consumer, "inFIFODepths")[0] = link.depth
    write_json(build.folding, cfg)
    return cfg


def _search_depths(st, links, words, frames, seed, interval, say) -> list[dict]:
    """Smaller depths for the FIFOs the measurement made deeper than :data:`SEARCH_ABOVE`.

    At the accelerator's rate such a FIFO sits in front of a layer that takes a frame's worth
    of words slower than they arrive (a sliding window's consumer): never letting it fill keeps
    every layer before it free of back-pressure, which the throughput may not need. A first
    trial sets all of them to :data:`SEARCH_MIN`; if that costs throughput, each one (the
    largest first, the ones searched before at their new depths) is tried at
    :data:`SEARCH_MIN`, else halved from its measured depth while that passes. A trial passes when the three runs (full rate, paced, paced
    with back-pressure) give outputs bit-exact with the deep run and cycles/frame equal to
    it. Trials stream half the frames (at least 8; the steady state is the second half) on
    the measuring model with run-time capacity limits (:meth:`Stitched.set_limits`, no
    recompile); the depths found are proven afterwards on all frames with a model built with
    them (:func:`_settle_depths`). Returns the trials."""
    n = max(8, frames // 2)
    words = words[: n * (len(words) // frames)]
    st.set_limits(st.fifo_depths)
    ref = _runs(st, words, n, seed, interval)
    ref_cycles = [_steady_cycles(r) for r in ref]
    trials: list[dict] = []

    def ok(depths: list[int]) -> bool:
        st.set_limits(depths)
        try:
            res = _runs(st, words, n, seed, interval)
        except RtlSimError as e:  # a deadlock (timeout) or an RTL assertion: too small
            trials.append({"depths": depths, "ok": False, "error": str(e)[:200]})
            return False
        good = all(np.array_equal(r.out, ref[0].out) for r in res) and (
            [_steady_cycles(r) for r in res] == ref_cycles
        )
        trials.append({"depths": depths, "ok": good})
        return good

    big = sorted((x for x in links if x.depth > SEARCH_ABOVE), key=lambda x: -x.depth * x.width)
    say(f"searching {len(big)} FIFOs deeper than {SEARCH_ABOVE}: all at {SEARCH_MIN}")
    if big and ok([SEARCH_MIN if x in big else x.depth for x in links]):
        for ln in big:
            ln.depth = SEARCH_MIN
        big = []
    for ln in big:
        # the least depth first (known to fail if this FIFO alone was in the first trial),
        # then halving from the measured depth while the trial passes: a FIFO either needs
        # little (then one trial) or a good part of a feature map (then a few)
        if len(big) > 1 and ok([SEARCH_MIN if x is ln else x.depth for x in links]):
            ln.depth = SEARCH_MIN
            continue
        while ln.depth // 2 > SEARCH_MIN:
            half = ln.depth // 2
            say(f"searching FIFO {ln.index} ({ln.producer} -> {ln.consumer}): depth {half}")
            if not ok([half if x is ln else x.depth for x in links]):
                break
            ln.depth = half
    st.set_limits([x.depth for x in links])
    return trials


def _settle_depths(build, links, words, frames, seed, simulator, ref, interval, say, phases):
    """Re-simulate with the chosen depths (bit-exact, same cycles/frame as the deep-FIFO run),
    doubling the FIFOs that fill up, at most MAX_ROUNDS times; return (rounds, cycles). Wall
    seconds of the compiles and runs are added to ``phases``."""
    ref_cycles = [_steady_cycles(r) for r in ref]
    rounds = []
    for _ in range(MAX_ROUNDS):
        depths = [ln.depth for ln in links]
        say(f"re-simulating with depths {depths}")
        t0 = time.time()
        sized = Stitched(build.path, depths, simulator, quick=True)
        cpu = sized.compile().build_cpu_seconds
        phases["compile_sized"] = phases.get("compile_sized", 0.0) + time.time() - t0
        phases["compile_sized_cpu"] = phases.get("compile_sized_cpu", 0.0) + cpu
        t0 = time.time()
        res = _runs(sized, words, frames, seed, interval)
        phases["runs_sized"] = phases.get("runs_sized", 0.0) + time.time() - t0
        cycles = [_steady_cycles(r) for r in res]
        exact = all(np.array_equal(r.out, ref[0].out) for r in res)
        rounds.append({"depths": depths, "cycles_per_frame": cycles, "bit_exact": exact})
        if not exact:
            raise FifoSizingError(f"re-simulation with depths {depths} is not bit-exact")
        if cycles == ref_cycles:
            break
        full = [ln for ln in links if _paced_max(res, ln) >= ln.depth]
        if not full:  # slower without a full FIFO: no depth change can help; report it
            break
        for ln in full:
            ln.depth = round_depth(2 * ln.depth)
    else:
        raise FifoSizingError(
            f"cycles/frame {cycles} != deep-FIFO {ref_cycles} after {MAX_ROUNDS} rounds"
        )
    if cycles != ref_cycles:
        raise FifoSizingError(f"sized FIFOs give cycles/frame {cycles} != deep-FIFO {ref_cycles}")

    return rounds, cycles


def _report(build, links, part, frames, deep, simulator, ref_cycles, cycles, rounds, n_py) -> dict:
    """BUILD/fifo.json: the depths chosen, their cost before and after, how they were found."""
    for ln in links:
        ln.cost_before = fifo_cost(ln.depth_before, ln.width, part)
        ln.cost = fifo_cost(ln.depth, ln.width, part)
    keys = ("luts", "brams", "urams", "ffs")
    before = {k: sum(ln.cost_before[k] for ln in links) for k in keys}
    after = {k: sum(ln.cost[k] for ln in links) for k in keys}
    return {
        "build": str(build.path),
        "simulator": simulator,
        "part": part,
        "frames": frames,
        "backpressure_percent": BACKPRESSURE,
        "measuring_depth": deep,
        # [input at full rate, paced, paced with back-pressure]
        "cycles_per_frame": {"deep": ref_cycles, "sized": cycles},
        "input_interval_cycles": math.ceil(ref_cycles[0]),
        "bit_exact": True,
        "python_frames_checked": n_py,
        "rounds": rounds,
        "fifos": [asdict(ln) for ln in links],
        "total_before": before,
        "total_after": after,
        "saved": {k: before[k] - after[k] for k in keys},
        "folding_config": str(build.folding),
    }


def size_fifos(
    build_dir: Path,
    frames: int = FRAMES,
    simulator: str = DEFAULT_SIMULATOR,
    seed: int = 1,
    progress: Callable[[str], None] | None = None,
    search: bool = True,
) -> dict:
    """Size every inter-layer FIFO of an all-RTL, code-generated build by simulation; write the
    depths into BUILD/folding.json and the report BUILD/fifo.json; return the report.
    ``search``: FIFOs measured deeper than :data:`SEARCH_ABOVE` are searched smaller
    (:func:`_search_depths`) before the proof."""
    say = progress or (lambda _msg: None)
    build = BuildDir(Path(build_dir).absolute())
    if frames < 8:
        raise FifoOptionError(f"--frames {frames}: at least 8 frames are needed for a steady state")
    t0 = time.time()
    cfg = read_json(build.config) if build.config.is_file() else {}
    part = cfg.get("fpga_part") or "xc7z020clg400-1"
    say("reading the build")
    phases: dict[str, float] = {}
    current = Stitched(build.path, design.FIFO_DEPTH, simulator)
    if len(current.designs) < 2:
        raise FifoSizingError(f"{build.path}: one layer only, no FIFO between layers to size")
    if not design.is_chain(current.designs):
        raise FifoSizingError(
            f"{build.path}: the layers form a graph with forks and joins (a residual block); "
            "FIFO sizing handles pipelines only (the simulation sizes the shortcut to a frame)"
        )
    from qonnx.custom_op.registry import getCustomOp

    insts = [getCustomOp(n) for n in current.graphs.nodes]
    links = [
        FifoLink(
            k,
            a.name,
            b.name,
            a.out_width,
            int(np.prod(insts[k].get_folded_output_shape(0)[:-1])),
            design.FIFO_DEPTH,
        )
        for k, (a, b) in enumerate(zip(current.designs, current.designs[1:], strict=False))
    ]
    deep = max(DEEP_MIN, 1 << (2 * max(ln.words_per_frame for ln in links) - 1).bit_length())
    geo = current.geo
    x = random_input(geo.idt, (frames, *geo.in_normal[1:]), np.random.default_rng(seed))
    words = geo.pack_in(x)

    say(f"measuring: {len(links)} FIFOs at depth {deep}, {frames} frames (compile + 3 runs)")
    phases["read"] = time.time() - t0
    t1 = time.time()
    deep_sim = Stitched(build.path, deep, simulator, quick=True, limits=search)
    phases["compile_deep_cpu"] = deep_sim.compile().build_cpu_seconds
    phases["compile_deep"] = time.time() - t1
    t1 = time.time()
    free = deep_sim.run_words(words, frames, (0, 0), seed)
    interval = math.ceil(_steady_cycles(free))  # the accelerator's own rate
    ref = _runs(deep_sim, words, frames, seed, interval, free)
    phases["runs_deep"] = time.time() - t1
    if not all(np.array_equal(r.out, free.out) for r in ref):
        raise FifoSizingError(
            "deep-FIFO runs with and without pacing / back-pressure give different outputs"
        )
    for link, m0, m1 in zip(links, ref[1].fifo_max, ref[2].fifo_max, strict=True):
        link.max_occupancy, link.max_occupancy_backpressure = int(m0), int(m1)
        if max(m0, m1) >= deep:
            raise FifoSizingError(
                f"FIFO {link.index} ({link.producer} -> {link.consumer}) filled all {deep} slots "
                "of the measuring run: it sits before the rate-limiting layer; size it by hand"
            )
        link.depth = link.depth_measured = round_depth(int(max(m0, m1)))
    ref_cycles = [_steady_cycles(r) for r in ref]

    say(f"checking FINN's Python execution on {min(frames, PYTHON_FRAMES)} frames")
    n_py = min(frames, PYTHON_FRAMES)
    t1 = time.time()
    py = _python_dataflow(deep_sim, x[:n_py])
    rtl = geo.unpack_out(ref[0].out, frames)[:n_py]
    if not np.array_equal(rtl.reshape(n_py, -1), py.reshape(n_py, -1)):
        raise FifoSizingError("the deep-FIFO simulation differs from FINN's Python execution")
    phases["python_check"] = time.time() - t1

    trials = []
    if search and any(ln.depth > SEARCH_ABOVE for ln in links):
        t1 = time.time()
        trials = _search_depths(deep_sim, links, words, frames, seed, interval, say)
        phases["search"] = time.time() - t1
    rounds, cycles = _settle_depths(
        build, links, words, frames, seed, simulator, ref, interval, say, phases
    )
    write_folding_depths(build, links)
    report = _report(build, links, part, frames, deep, simulator, ref_cycles, cycles, rounds, n_py)
    report["search_trials"] = trials
    report["seconds"] = round(time.time() - t0, 1)
    # where the wall time went: reading the build, the two compiles, the runs, Python's check
    report["phases_seconds"] = {k: round(v, 1) for k, v in phases.items()}
    write_json(build.path / FIFO_JSON, report)
    add_to_build_report(build, report)
    return report


def add_to_build_report(build: BuildDir, sizing: dict) -> None:
    """BUILD/report.json and report.md gain the ``fifo_sizing`` section (per-FIFO depths and
    cost, the totals saved)."""
    path = build.path / "report.json"
    if not path.is_file():
        return
    report = read_json(path)
    report["fifo_sizing"] = {k: v for k, v in sizing.items() if k != "rounds"}
    write_report(build.path, report)
