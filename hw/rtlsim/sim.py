"""Node-level and stitched RTL simulation of a FINN build directory (Verilator by default; any
back end of :mod:`fewerbits.hw.sim` by name).

* :func:`simulate_node`: one RTL node's Verilog with random valid/ready stalls, every output
  compared bit-exact with FINN's Python execution of the same node (the specialised node mapped
  back to its base type, ``exec_mode`` '').
* :class:`Stitched`: all dataflow layers in graph order, a FIFO between neighbours, one top
  level; frames streamed back to back; cycles per frame and latency measured.
* :class:`BuildGraphs`: the build's code-generated dataflow model plus the software nodes
  before and after the dataflow partition (input transpose, float output scale).
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fewerbits.compat.finn import env as finn_env
from fewerbits.core.artifacts import BuildDir
from fewerbits.core.files import read_json

from .. import rtl_lib
from ..build import steps as S
from ..driver.finn_nodes import base_op_type
from ..sim import DEFAULT_SIMULATOR, Binary, RtlSimError, StreamJob, StreamResult, get_backend
from . import design, packing

#: the code-generated dataflow model every simulation runs (relative to the build folder)
CODEGEN_MODEL = f"{BuildDir.INTERMEDIATE}/{S.HW_CODEGEN}.onnx"


def base_copy(node):
    """The specialised node (X_rtl / X_hls) as its base type, executable in Python."""
    n = copy.deepcopy(node)
    n.op_type, n.domain = base_op_type(n.op_type, n.domain)
    return n


def python_exec(model, node, x: np.ndarray) -> np.ndarray:
    """FINN's Python execution of ``node`` on a batch ``x`` (N, *normal input shape[1:])."""
    from qonnx.custom_op.registry import getCustomOp

    inst = getCustomOp(base_copy(node))
    outs = []
    for i in range(len(x)):
        ctx = {name: model.get_initializer(name) for name in node.input[1:]}
        ctx[node.input[0]] = x[i : i + 1].astype(np.float32)
        ctx[node.output[0]] = np.zeros(inst.get_normal_output_shape(), dtype=np.float32)
        inst.execute_node(ctx, model.graph)
        outs.append(ctx[node.output[0]])
    return np.concatenate(outs, axis=0)


def python_exec_ports(model, node, xs: list[np.ndarray]) -> list[np.ndarray]:
    """FINN's Python execution of a node with several streamed inputs/outputs: one batch per
    streamed input (in port order) -> one batch per output."""
    from qonnx.custom_op.registry import getCustomOp

    inst = getCustomOp(base_copy(node))
    streamed = [t for t in node.input if t and model.get_initializer(t) is None]
    outs: list[list[np.ndarray]] = [[] for _ in node.output]
    for i in range(len(xs[0])):
        ctx = {t: model.get_initializer(t) for t in node.input if t not in streamed}
        for t, x in zip(streamed, xs, strict=True):
            ctx[t] = x[i : i + 1].astype(np.float32)
        for k, t in enumerate(node.output):
            ctx[t] = np.zeros(inst.get_normal_output_shape(k), dtype=np.float32)
        inst.execute_node(ctx, model.graph)
        for k, t in enumerate(node.output):
            outs[k].append(ctx[t])
    return [np.concatenate(o, axis=0) for o in outs]


def window_folds(model, node) -> tuple[int, int]:
    """``(input fold, output fold)`` of FINN's depthwise window order on the node's streams.

    A depthwise ConvolutionInputGenerator with SIMD < channels streams each window as
    (C/SIMD, K2, SIMD), while FINN's Python execution of it gives the normal (K2, C); its
    Pool/VVAU consumer reads (C/PE, K2, PE) (PE = that SIMD) where Python reads (K2, C). A fold
    F here means the stream is in (C/F, K2, F) order; 0: normal order (nothing to reorder)."""
    from qonnx.custom_op.registry import getCustomOp

    base = base_copy(node).op_type
    inst = getCustomOp(node)
    out_fold = in_fold = 0
    if base == "ConvolutionInputGenerator" and inst.get_nodeattr("depthwise"):
        simd, ch = inst.get_nodeattr("SIMD"), inst.get_nodeattr("IFMChannels")
        out_fold = simd if simd < ch else 0
    producer = model.find_producer(node.input[0])
    if base in ("Pool", "VVAU") and producer is not None:
        if base_copy(producer).op_type == "ConvolutionInputGenerator":
            pe, ch = inst.get_nodeattr("PE"), inst.get_nodeattr("Channels")
            in_fold = pe if pe < ch else 0
    return in_fold, out_fold


def window_order(x: np.ndarray, fold: int, channels: int, to_stream: bool) -> np.ndarray:
    """``x`` (N, ..., K2*C) from the normal (K2, C) window order to FINN's depthwise stream
    order (C/fold, K2, fold), or back (``to_stream=False``)."""
    if not fold:
        return x
    lead, last = x.shape[:-1], x.shape[-1]
    k2 = last // channels
    if to_stream:
        y = x.reshape(*lead, k2, channels // fold, fold)
    else:
        y = x.reshape(*lead, channels // fold, k2, fold)
    n = len(lead)
    return np.ascontiguousarray(np.swapaxes(y, n, n + 1)).reshape(x.shape)


def _python_reads_stream(model, node) -> bool:
    """FINN's VVAU.execute_node reads the normal (K2, C) order only when its producer's op type
    is exactly ``ConvolutionInputGenerator``/``Im2Col``; after specialisation
    (``ConvolutionInputGenerator_rtl``) it reads the (C/PE, K2, PE) stream order."""
    producer = model.find_producer(node.input[0])
    return (
        base_copy(node).op_type == "VVAU"
        and producer is not None
        and producer.op_type not in ("ConvolutionInputGenerator", "Im2Col")
    )


def _window_channels(node) -> int:
    from qonnx.custom_op.registry import getCustomOp

    inst = getCustomOp(node)
    attrs = inst.get_nodeattr_types()
    return int(inst.get_nodeattr("IFMChannels" if "IFMChannels" in attrs else "Channels"))


@dataclass
class Geometry:
    """Stream geometry of a node (or of a chain: first node's input, last node's output)."""

    idt: object
    odt: object
    in_folded: tuple
    out_folded: tuple
    in_normal: tuple
    out_normal: tuple
    in_bytes: int
    out_bytes: int

    # words per frame from the normal shape (batch 1): FINN's folded shapes do not always carry
    # the batch dimension (StreamingDataWidthConverter's folded output shape has none)
    @property
    def in_words(self) -> int:
        return int(np.prod(self.in_normal)) // self.in_folded[-1]

    @property
    def out_words(self) -> int:
        return int(np.prod(self.out_normal)) // self.out_folded[-1]

    def pack_in(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        folded = x.reshape(n, self.in_words, self.in_folded[-1])
        return packing.pack(folded, self.idt, self.in_bytes)

    def unpack_out(self, words: np.ndarray, n: int) -> np.ndarray:
        v = packing.unpack(words, self.odt, self.out_folded[-1])
        return v.reshape(n, *self.out_normal[1:])

    def stream_job(self, x: np.ndarray, workdir: Path, stall=(0, 0), seed: int = 1) -> StreamJob:
        """Frames ``x`` (N, *normal input shape[1:]) packed for a simulator back end."""
        return self.words_job(self.pack_in(x), x.shape[0], workdir, stall, seed)

    def words_job(
        self, words: np.ndarray, frames: int, workdir: Path, stall=(0, 0), seed: int = 1
    ) -> StreamJob:
        """Packed words (frames * in_words, in_bytes) as a job for a simulator back end."""
        return StreamJob(
            words=words,
            out_bytes=self.out_bytes,
            in_words_per_frame=self.in_words,
            out_words_per_frame=self.out_words,
            frames=frames,
            workdir=Path(workdir),
            in_stall=stall[0],
            out_stall=stall[1],
            seed=seed,
        )


def _with_batch(folded) -> tuple:
    """FINN folded shapes are (batch, ..., fold, inner); a few ops omit the batch: add it."""
    folded = tuple(int(v) for v in folded)
    return folded if len(folded) >= 3 and folded[0] == 1 else (1, *folded)


def geometry(first_inst, last_inst=None, in_port: int = 0, out_port: int = 0) -> Geometry:
    last_inst = last_inst or first_inst
    i, o = in_port, out_port
    return Geometry(
        idt=first_inst.get_input_datatype(i),
        odt=last_inst.get_output_datatype(o),
        in_folded=_with_batch(first_inst.get_folded_input_shape(i)),
        out_folded=_with_batch(last_inst.get_folded_output_shape(o)),
        in_normal=tuple(first_inst.get_normal_input_shape(i)),
        out_normal=tuple(last_inst.get_normal_output_shape(o)),
        in_bytes=first_inst.get_instream_width_padded(i) // 8,
        out_bytes=last_inst.get_outstream_width_padded(o) // 8,
    )


def random_input(dt, shape, rng: np.random.Generator) -> np.ndarray:
    """Random values of a FINN DataType (all representable values, including the extremes)."""
    if dt.name == "BIPOLAR":
        return rng.choice([-1.0, 1.0], size=shape).astype(np.float32)
    return rng.integers(int(dt.min()), int(dt.max()) + 1, size=shape).astype(np.float32)


@dataclass
class NodeResult:
    """Outcome of one node's simulation."""

    name: str
    op_type: str
    status: str  # pass | fail | skipped
    frames: int = 0
    outputs: int = 0
    exact: int = 0
    reason: str | None = None
    cycles_per_frame: float | None = None
    estimate_cycles: int | None = None
    build_seconds: float = 0.0
    cache_hit: bool = False
    sim_seconds: float = 0.0
    outputs_array: np.ndarray | None = field(default=None, repr=False)
    #: every output port's values (a layer with several outputs); [outputs_array] otherwise
    port_arrays: list = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k not in ("outputs_array", "port_arrays")}
        return d


def simulate_node(
    model,
    node,
    workdir: Path,
    x: np.ndarray | None = None,
    frames: int = 4,
    stall: tuple[int, int] = (30, 30),
    seed: int = 0,
    simulator: str = DEFAULT_SIMULATOR,
) -> NodeResult:
    """Simulate one RTL node with stalls and compare with its Python execution, bit-exact.
    ``simulator`` names the back end (:func:`fewerbits.hw.sim.backend_names`)."""
    from qonnx.custom_op.registry import getCustomOp

    backend = get_backend(simulator)

    reason = design.skip_reason(node)
    if reason is not None:
        return NodeResult(node.name, node.op_type, "skipped", reason=reason)
    inst = getCustomOp(node)
    d = design.node_design(model, node)
    if design.is_multi_port(d):
        return _simulate_ports(model, node, d, backend, workdir, x, frames, stall, seed)
    geo = geometry(inst)
    rng = np.random.default_rng(seed)
    if x is None:
        x = random_input(geo.idt, (frames, *geo.in_normal[1:]), rng)
    frames = len(x)
    # the chain carries the normal window order, the streams FINN's depthwise one
    in_fold, out_fold = window_folds(model, node)
    ch = _window_channels(node) if in_fold or out_fold else 0
    x_stream = window_order(x, in_fold, ch, to_stream=True)
    ref = python_exec(model, node, x_stream if _python_reads_stream(model, node) else x)
    ref = window_order(ref, out_fold, ch, to_stream=True)
    x = x_stream
    binary = backend.compile(design.stitched_design([d], name=node.name))
    job = geo.stream_job(x, Path(workdir) / node.name, stall, seed + 1)
    res = backend.run(binary, job)
    out = geo.unpack_out(res.out, frames)
    r = _node_result(node, [out], [ref], frames, binary, res)
    if out_fold:  # the chain goes on in the normal window order
        r.outputs_array = window_order(out, out_fold, ch, to_stream=False)
        r.port_arrays = [r.outputs_array]
    return r


def _simulate_ports(model, node, d, backend, workdir, x, frames, stall, seed) -> NodeResult:
    """:func:`simulate_node` for a layer with several streamed inputs or outputs: the ports'
    words side by side in one harness word (:func:`design.port_test_design`), each port
    stalled on its own (unless ``stall`` is (0, 0)); every output port compared with FINN's
    Python execution."""
    from qonnx.custom_op.registry import getCustomOp

    inst = getCustomOp(node)
    geos_in = [geometry(inst, in_port=i) for i in range(len(d.inputs))]
    geos_out = [geometry(inst, out_port=o) for o in range(len(d.outputs))]
    rng = np.random.default_rng(seed)
    if x is None:
        xs = [random_input(g.idt, (frames, *g.in_normal[1:]), rng) for g in geos_in]
    else:
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
    frames = len(xs[0])
    refs = python_exec_ports(model, node, xs)
    words = np.concatenate([g.pack_in(v) for g, v in zip(geos_in, xs, strict=True)], axis=1)
    # no stalls asked (a cycle count): no port stalls either
    binary = backend.compile(design.port_test_design(d, seed + 3, tuple(stall) != (0, 0)))
    job = StreamJob(
        words=words,
        out_bytes=sum(g.out_bytes for g in geos_out),
        in_words_per_frame=geos_in[0].in_words,
        out_words_per_frame=geos_out[0].out_words,
        frames=frames,
        workdir=Path(workdir) / node.name,
        in_stall=stall[0],
        out_stall=stall[1],
        seed=seed + 1,
    )
    res = backend.run(binary, job)
    outs, lo = [], 0
    for g in geos_out:
        outs.append(g.unpack_out(res.out[:, lo : lo + g.out_bytes], frames))
        lo += g.out_bytes
    return _node_result(node, outs, refs, frames, binary, res, " (ports side by side)")


def _node_result(node, outs, refs, frames, binary, res, where: str = "") -> NodeResult:
    """Every output port's values compared with FINN's Python reference, element by element."""
    got = np.concatenate([o.reshape(frames, -1) for o in outs], axis=1)
    ref = np.concatenate([v.reshape(frames, -1) for v in refs], axis=1)
    exact, total = int(np.sum(got == ref)), int(ref.size)
    r = NodeResult(
        node.name,
        node.op_type,
        "pass" if exact == total else "fail",
        frames=frames,
        outputs=total,
        exact=exact,
        build_seconds=binary.build_seconds,
        cache_hit=binary.cache_hit,
        sim_seconds=round(res.seconds, 3),
        outputs_array=outs[0],
        port_arrays=list(outs),
    )
    if exact != total:
        f, e = np.argwhere(got != ref)[0]
        r.reason = (
            f"{total - exact}/{total} outputs differ from FINN's Python execution; first at frame "
            f"{f} element {e}{where}: rtl {got[f, e]:g} != python {ref[f, e]:g}"
        )
    if frames > 1:
        r.cycles_per_frame = float(np.diff(res.last_out).mean())
    return r


class BuildGraphs:
    """The code-generated dataflow model of a build directory and its software surroundings."""

    def __init__(self, build_dir: Path):
        self.build_dir = Path(build_dir).absolute()
        f = self.build_dir / CODEGEN_MODEL
        if not f.is_file():
            raise RtlSimError(
                f"{f} not found; run `fewerbits build ... --until codegen` first (hw_codegen step)"
            )
        finn_env.prepare_finn(self.build_dir)
        rtl_lib.register()  # this project's RTL ops, before the model's nodes are looked up
        from qonnx.core.modelwrapper import ModelWrapper

        self.dataflow = ModelWrapper(str(f))
        self.nodes = list(self.dataflow.graph.node)
        self._parent = None

    def skipped(self) -> list[dict]:
        """HW nodes whose Verilog cannot be simulated here, with the reason."""
        out = []
        for n in self.nodes:
            reason = design.skip_reason(n)
            if reason:
                out.append({"node": n.name, "op_type": n.op_type, "reason": reason})
        return out

    def parent(self):
        """The model with the dataflow partition as one StreamingDataflowPartition node."""
        if self._parent is None:
            from finn.transformation.fpgadataflow.create_dataflow_partition import (
                CreateDataflowPartition,
            )
            from qonnx.core.modelwrapper import ModelWrapper

            src = BuildDir(self.build_dir).model_before(S.CREATE_DATAFLOW_PARTITION)
            if src is None:
                raise RtlSimError(f"{self.build_dir}: no model saved before the dataflow partition")
            with tempfile.TemporaryDirectory() as tmp:
                self._parent = ModelWrapper(str(src)).transform(
                    CreateDataflowPartition(partition_model_dir=tmp)
                )
        return self._parent

    def run_with(self, x: np.ndarray, dataflow_fn) -> np.ndarray:
        """Execute the software nodes around the partition with qonnx, the partition with
        ``dataflow_fn((N, *partition input shape)) -> (N, *partition output shape)``; a
        ``dataflow_fn`` returning None ends there and the partition inputs are returned."""
        from qonnx.core.onnx_exec import execute_node

        parent = self.parent()
        g = parent.graph
        opset = parent.model.opset_import[0].version
        iname, oname = g.input[0].name, g.output[0].name
        nodes = list(g.node)
        k = [i for i, n in enumerate(nodes) if n.op_type == "StreamingDataflowPartition"]
        if len(k) != 1:
            raise RtlSimError(f"{self.build_dir}: expected one dataflow partition, found {len(k)}")
        k = k[0]
        init = {i.name: parent.get_initializer(i.name) for i in g.initializer}

        def run_nodes(ns, ctx):
            for n in ns:
                for o in n.output:
                    ctx[o] = np.zeros(parent.get_tensor_shape(o), dtype=np.float32)
                execute_node(n, ctx, g, opset)
            return ctx

        # the graph's own input shape: a 1-D model's [N, C, L] is built as [N, C, L, 1] (conv1d)
        ishape = parent.get_tensor_shape(iname)
        mids = []
        for i in range(len(x)):
            ctx = dict(init)
            ctx[iname] = x[i : i + 1].astype(np.float32)
            if ishape:
                ctx[iname] = ctx[iname].reshape(ishape)
            run_nodes(nodes[:k], ctx)
            mids.append(ctx[nodes[k].input[0]])
        mid = np.concatenate(mids, axis=0)
        out_mid = dataflow_fn(mid)
        if out_mid is None:  # the caller wanted the partition inputs only
            return mid
        outs = []
        for i in range(len(x)):
            ctx = dict(init)
            ctx[nodes[k].output[0]] = out_mid[i : i + 1].astype(np.float32)
            run_nodes(nodes[k + 1 :], ctx)
            outs.append(ctx[oname])
        return np.concatenate(outs, axis=0)


def check_integer_input(x: np.ndarray, dt, where: str) -> None:
    """The accelerator input must hold values of its datatype (e.g. UINT8 pixels)."""
    if not (np.all(np.rint(x) == x) and x.min() >= dt.min() and x.max() <= dt.max()):
        raise RtlSimError(
            f"{where}: accelerator input is not {dt.name} (range {x.min():g}..{x.max():g}); "
            "feed the model's raw integer inputs (e.g. uint8 pixels as float32)"
        )


def build_link_depths(build_dir: Path, designs: list) -> int | list[int]:
    """The inter-layer FIFO depths of a build: sized ones from its folding.json (`fewerbits
    fifo`), else the default depth for every link."""
    folding = BuildDir(build_dir).folding
    sized = design.folded_link_depths(read_json(folding), designs) if folding.is_file() else None
    return sized or design.FIFO_DEPTH


#: the least idle limit of a stitched run: cycles without an output word before it is a deadlock
MIN_IDLE = StreamJob.max_idle
#: a stitched run may wait this many times FINN's latency estimate for an output word
IDLE_LATENCIES = 2


def latency_estimate(model, nodes) -> int:
    """FINN's estimate of a layer chain's first-output latency: the sum of every layer's cycles
    per frame (``get_exp_cycles``; a layer may need its whole input frame before its first
    output, as a fully folded MVAU does for the next one's input vector)."""
    from qonnx.custom_op.registry import getCustomOp

    total = 0
    for n in nodes:
        try:
            total += int(getCustomOp(n).get_exp_cycles())
        except Exception:  # noqa: BLE001 - an op without an estimate adds nothing
            pass
    return total


def idle_limit(latency: int, stall=(0, 0), floor: int = MIN_IDLE) -> int:
    """Cycles a stitched run waits for an output word before it counts as deadlocked:
    :data:`IDLE_LATENCIES` x the latency estimate (slowed by the stall percentages), at least
    ``floor``. A deep, folded accelerator's first output can come long after a fixed limit:
    Brevitas CNV-w2a2 on Pynq-Z1 (886 FPS) has its first frame out after 353,090 cycles."""
    slow = (1 - stall[0] / 100) * (1 - stall[1] / 100)
    return max(int(floor), int(IDLE_LATENCIES * latency / max(slow, 0.01)))


class Stitched:
    """All RTL layers of a build in one simulation model (FIFO between neighbours), compiled and
    run by the simulator back end ``simulator`` (:func:`fewerbits.hw.sim.backend_names`).
    ``fifo_depths``: one depth for every link, one per link, or None for the depths the build's
    folding config sets (``fewerbits fifo``), else :data:`design.FIFO_DEPTH`. ``quick``: the
    model is compiled for build time, not run time (a few short runs: FIFO sizing).
    ``limits``: every FIFO's capacity can be lowered at run time (:meth:`set_limits`). A run is
    a deadlock after :func:`idle_limit` cycles without output (at least ``min_idle``)."""

    def __init__(
        self,
        build_dir: Path,
        fifo_depths: int | Sequence[int] | None = None,
        simulator: str = DEFAULT_SIMULATOR,
        quick: bool = False,
        limits: bool = False,
        min_idle: int = MIN_IDLE,
    ):
        from qonnx.custom_op.registry import getCustomOp

        self.backend = get_backend(simulator)  # an unknown name fails before any FINN work
        self.graphs = BuildGraphs(build_dir)
        skipped = self.graphs.skipped()
        if skipped:
            s = skipped[0]
            raise RtlSimError(
                f"{build_dir}: node {s['node']} ({s['op_type']}) cannot be simulated: {s['reason']}; "
                "build with impl_style 'rtl' for an all-RTL accelerator"
            )
        model = self.graphs.dataflow
        self.designs = [design.node_design(model, n) for n in self.graphs.nodes]
        if fifo_depths is None:
            fifo_depths = build_link_depths(build_dir, self.designs)
        self.fifo_depths = design.link_depths(self.designs, fifo_depths)
        self.workdir = self.graphs.build_dir / "rtlsim" / "stitched"
        self.limit_file = self.workdir.parent / "fifo_limits.dat" if limits else None
        if self.limit_file is not None:
            self.set_limits(self.fifo_depths)
        self.design = design.stitched_design(
            self.designs, self.fifo_depths, quick=quick, limit_file=self.limit_file
        )
        self.sources = self.design.sources
        self.geo = geometry(getCustomOp(self.graphs.nodes[0]), getCustomOp(self.graphs.nodes[-1]))
        self.binary: Binary | None = None
        self.last: StreamResult | None = None
        self.min_idle = min_idle
        self.latency_estimate = latency_estimate(model, self.graphs.nodes)

    def job(
        self, words: np.ndarray, frames: int, workdir: Path, stall=(0, 0), seed: int = 1
    ) -> StreamJob:
        """Packed words as a back-end job, with this accelerator's idle limit."""
        job = self.geo.words_job(words, frames, workdir, stall, seed)
        job.max_idle = idle_limit(self.latency_estimate, stall, self.min_idle)
        return job

    def set_limits(self, limits: Sequence[int]) -> None:
        """The next runs let FIFO k hold at most ``limits[k]`` words (at most its depth): the
        accelerator as if built with those depths, without a recompile (a model built with
        ``limits``; FIFO sizing's search, proven afterwards with the real depths)."""
        if self.limit_file is None:
            raise RtlSimError("FIFO limits need a model built with limits=True")
        if len(limits) != len(self.fifo_depths):
            raise RtlSimError(f"{len(limits)} FIFO limits for {len(self.fifo_depths)} FIFOs")
        self.limit_file.parent.mkdir(parents=True, exist_ok=True)
        words = [f"{min(int(v), d):08x}" for v, d in zip(limits, self.fifo_depths, strict=True)]
        self.limit_file.write_text("\n".join(words) + "\n")

    def compile(self) -> Binary:
        if self.binary is None:
            self.binary = self.backend.compile(self.design)
        return self.binary

    def run_words(
        self, words: np.ndarray, frames: int, stall=(0, 0), seed=1, interval: int = 0
    ) -> StreamResult:
        """Stream packed words (frames*in_words, in_bytes) through the accelerator (``interval``
        > 0: frame f's first word is offered no earlier than cycle f * interval)."""
        b = self.compile()
        job = self.job(words, frames, self.workdir, stall, seed)
        job.in_frame_interval = interval
        self.last = self.backend.run(b, job)
        return self.last

    def run_dataflow(self, x: np.ndarray, stall=(0, 0)) -> np.ndarray:
        """Partition input values (N, ...) -> partition output values (N, ...)."""
        n = x.shape[0]
        check_integer_input(x, self.geo.idt, "rtl_stitched")
        res = self.run_words(self.geo.pack_in(x), n, stall)
        return self.geo.unpack_out(res.out, n)

    def partition_inputs(self, x: np.ndarray) -> np.ndarray:
        """The accelerator's inputs for PyTorch-convention inputs ``x`` (software pre-nodes)."""
        return self.graphs.run_with(x, lambda _mid: None)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Whole model (software pre/post nodes included) on PyTorch-convention inputs."""
        return self.graphs.run_with(x, self.run_dataflow)

    def timing(self) -> dict:
        """Cycles/frame (steady state: second half of the frames) and first-frame latency."""
        r = self.last
        if r is None:
            return {}
        n = len(r.last_out)
        half = n // 2
        cpf = float((r.last_out[-1] - r.last_out[half]) / max(1, n - 1 - half)) if n > 2 else None
        return {
            "frames": n,
            "cycles_total": r.cycles,
            "cycles_per_frame": cpf,
            "latency_cycles": int(r.last_out[0] - r.first_in[0] + 1),
            "sim_seconds": round(r.seconds, 3),
            "frames_per_second": round(n / r.seconds, 1) if r.seconds > 0 else None,
        }
