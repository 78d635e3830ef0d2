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


def geometry(first_inst, last_inst=None) -> Geometry:
    last_inst = last_inst or first_inst
    return Geometry(
        idt=first_inst.get_input_datatype(0),
        odt=last_inst.get_output_datatype(0),
        in_folded=_with_batch(first_inst.get_folded_input_shape(0)),
        out_folded=_with_batch(last_inst.get_folded_output_shape(0)),
        in_normal=tuple(first_inst.get_normal_input_shape(0)),
        out_normal=tuple(last_inst.get_normal_output_shape(0)),
        in_bytes=first_inst.get_instream_width_padded(0) // 8,
        out_bytes=last_inst.get_outstream_width_padded(0) // 8,
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

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "outputs_array"}
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
    geo = geometry(inst)
    rng = np.random.default_rng(seed)
    if x is None:
        x = random_input(geo.idt, (frames, *geo.in_normal[1:]), rng)
    frames = len(x)
    ref = python_exec(model, node, x)
    d = design.node_design(model, node)
    binary = backend.compile(design.stitched_design([d], name=node.name))
    job = geo.stream_job(x, Path(workdir) / node.name, stall, seed + 1)
    res = backend.run(binary, job)
    out = geo.unpack_out(res.out, frames)
    exact = int(np.sum(out.reshape(frames, -1) == ref.reshape(frames, -1)))
    total = int(ref.size)
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
        outputs_array=out,
    )
    if exact != total:
        bad = np.argwhere(out.reshape(frames, -1) != ref.reshape(frames, -1))[0]
        r.reason = (
            f"{total - exact}/{total} outputs differ from FINN's Python execution; first at frame "
            f"{bad[0]} element {bad[1]}: rtl {out.reshape(frames, -1)[tuple(bad)]:g} != "
            f"python {ref.reshape(frames, -1)[tuple(bad)]:g}"
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

        mids = []
        for i in range(len(x)):
            ctx = dict(init)
            ctx[iname] = x[i : i + 1].astype(np.float32)
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


class Stitched:
    """All RTL layers of a build in one simulation model (FIFO between neighbours), compiled and
    run by the simulator back end ``simulator`` (:func:`fewerbits.hw.sim.backend_names`).
    ``fifo_depths``: one depth for every link, one per link, or None for the depths the build's
    folding config sets (``fewerbits fifo``), else :data:`design.FIFO_DEPTH`."""

    def __init__(
        self,
        build_dir: Path,
        fifo_depths: int | Sequence[int] | None = None,
        simulator: str = DEFAULT_SIMULATOR,
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
        self.design = design.stitched_design(self.designs, self.fifo_depths)
        self.sources = self.design.sources
        self.geo = geometry(getCustomOp(self.graphs.nodes[0]), getCustomOp(self.graphs.nodes[-1]))
        self.binary: Binary | None = None
        self.workdir = self.graphs.build_dir / "rtlsim" / "stitched"
        self.last: StreamResult | None = None

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
        job = self.geo.words_job(words, frames, self.workdir, stall, seed)
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
