"""Where a stitched accelerator goes wrong: the first layer whose output stream differs from
FINN's Python execution of the graph, and an FST waveform around its first wrong beat.

:func:`locate_mismatch` re-simulates the failing frames with a debug model of the same
accelerator (same layers, FIFO depths and memory files; the top taps every layer's output
stream and can write an FST waveform: :func:`.design.stitched_design` with ``debug=True``),
records every handshake on every layer's output, and compares each layer's stream, word by
word and frame by frame, with FINN's Python execution of that layer fed by the Python execution
of the layers before it (a residual graph: every output port of every layer, each layer fed
by the Python streams of its producers). The first layer (in graph order) with a differing
word is the culprit: the layers before it produced the right stream, so it computed a wrong one from a
right input. With ``trace`` the window ``[cycle - before, cycle + after]`` around that word's
handshake is written as an FST file (open it with GTKWave: :attr:`Mismatch.gtkwave`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..sim import get_backend
from . import design, packing
from .sim import (
    Stitched,
    _python_reads_stream,
    _window_channels,
    geometry,
    python_exec,
    python_exec_ports,
    window_folds,
    window_order,
)

#: cycles of waveform before / after the first wrong beat
TRACE_BEFORE, TRACE_AFTER = 400, 100
#: at most this many frames are re-simulated (the failing one and those just before it)
MAX_FRAMES = 32
WAVEFORM = "mismatch.fst"


@dataclass
class Mismatch:
    """The first wrong word of the first layer whose output stream differs (or none)."""

    layer: str | None  # node name; None when every stream equals the Python execution
    op_type: str | None = None
    frame: int | None = None  # index into the frames given to locate_mismatch
    beat: int | None = None  # word index within that frame's output of the layer
    cycle: int | None = None  # the wrong word's handshake cycle (the waveform's time / 2)
    got: list | None = None  # the wrong word's elements (RTL)
    expected: list | None = None  # the same elements from FINN's Python execution
    words: tuple[int, int] = (0, 0)  # words the layer produced / Python expects
    waveform: Path | None = None
    frames: int = 0

    @property
    def gtkwave(self) -> str | None:
        """The command that opens the waveform."""
        return f"gtkwave {self.waveform}" if self.waveform else None

    def line(self) -> str:
        """One line for the level's result."""
        if self.layer is None:
            return (
                f"every layer's output stream equals FINN's Python execution on the "
                f"{self.frames} re-simulated frames (the difference is outside the accelerator)"
            )
        if self.words[0] != self.words[1]:
            what = f"produced {self.words[0]} output words, Python {self.words[1]}"
        else:
            what = (
                f"output stream differs from FINN's Python execution at frame {self.frame} word "
                f"{self.beat} (cycle {self.cycle}): rtl {self.got} != python {self.expected}"
            )
        wave = f"; waveform {self.waveform} (open: {self.gtkwave})" if self.waveform else ""
        return f"{self.layer} ({self.op_type}): {what}{wave}"


def _compare(node, geo, stream, want: np.ndarray, n: int) -> Mismatch | None:
    """The first word of a layer's recorded ``stream`` (words, cycles) that differs from the
    expected values ``want`` (n * words per frame, elements per word); None if all agree."""
    words, cycles = stream
    if words.shape[0] < want.shape[0]:
        return Mismatch(node.name, node.op_type, words=(words.shape[0], want.shape[0]), frames=n)
    # words past the last frame: a layer that needs no input for the start of its next frame
    # (FMPadding's top padding row, a sliding window's first outputs of it) runs on into it
    words, cycles = words[: want.shape[0]], cycles[: want.shape[0]]
    # values, not bytes: a layer may fill the padding bits of its words (sign extension)
    got = packing.unpack(words[:, : geo.out_bytes], geo.odt, geo.out_folded[-1])
    bad = np.flatnonzero(np.any(got != want, axis=1))
    if bad.size == 0:
        return None
    b = int(bad[0])
    return Mismatch(
        node.name,
        node.op_type,
        frame=b // geo.out_words,
        beat=b % geo.out_words,
        cycle=int(cycles[b]),
        got=got[b].astype(int).tolist(),
        expected=want[b].astype(int).tolist(),
        words=(words.shape[0], want.shape[0]),
        frames=n,
    )


def _write_trace(backend, binary, job, found: Mismatch, last_cycle: int, out_dir: Path) -> None:
    """Run ``job`` again with the FST waveform around the first wrong word (or, when the
    word counts differ, the end of the run) into ``out_dir``; its path into ``found``."""
    end = found.cycle if found.cycle is not None else last_cycle
    job.trace_file = out_dir / WAVEFORM
    job.trace_window = (max(0, end - TRACE_BEFORE), end + TRACE_AFTER)
    job.tap_dir = None
    backend.run(binary, job)
    found.waveform = job.trace_file


def locate_mismatch(
    build_dir: Path,
    x: np.ndarray,
    out_dir: Path,
    trace: bool = False,
    stitched: Stitched | None = None,
) -> Mismatch:
    """Re-simulate the partition inputs ``x`` (N, ...; at most :data:`MAX_FRAMES` are used, the
    last ones) on the debug model of the build's stitched accelerator and name the first layer
    whose output stream differs from FINN's Python execution; ``trace``: write the FST waveform
    around its first wrong word into ``out_dir``."""
    from qonnx.custom_op.registry import getCustomOp

    st = stitched or Stitched(Path(build_dir))
    x = x[-MAX_FRAMES:]
    n = len(x)
    dbg = design.stitched_design(st.designs, st.fifo_depths, st.design.name + " (debug)", True)
    backend = get_backend("verilator")  # taps and waveforms are the RTL model's
    binary = backend.compile(dbg)
    out_dir = Path(out_dir).absolute()
    job = st.job(st.geo.pack_in(x), n, out_dir / "work")
    job.tap_dir = out_dir / "taps"
    res = backend.run(binary, job)
    tap = {kp: i for i, kp in enumerate(design.tap_streams(st.designs))}
    model = st.graphs.dataflow
    produced = {t for nd in st.graphs.nodes for t in nd.output}
    values: dict[str, np.ndarray] = {}  # tensor -> Python's values (N, ...), in graph order
    found = Mismatch(None, frames=n)
    for k, node in enumerate(st.graphs.nodes):
        inst = getCustomOp(node)
        streamed = [t for t in node.input if t and model.get_initializer(t) is None]
        xs = [
            (values[t] if t in produced else x).reshape(n, *geometry(inst, in_port=i).in_normal[1:])
            for i, t in enumerate(streamed)
        ]
        # Python's values stay in the normal window order; a depthwise window generator with
        # SIMD < channels streams (C/SIMD, K2, SIMD) (hw/rtlsim/sim.py window_folds)
        in_fold, out_fold = window_folds(model, node)
        ch = _window_channels(node) if in_fold or out_fold else 0
        if len(streamed) > 1 or len(node.output) > 1:  # a fork or a join
            outs = python_exec_ports(model, node, xs)
        else:
            reads_stream = _python_reads_stream(model, node)
            x0 = window_order(xs[0], in_fold, ch, to_stream=True) if reads_stream else xs[0]
            outs = [python_exec(model, node, x0)]
        for p, out in enumerate(outs):
            values[node.output[p]] = out
            geo = geometry(inst, out_port=p)
            streamed_out = window_order(out, out_fold, ch, to_stream=True)
            want = streamed_out.reshape(n * geo.out_words, geo.out_folded[-1])
            wrong = _compare(node, geo, res.taps[tap[(k, p)]], want, n)
            if wrong is not None:
                found = wrong
                break
        if found.layer is not None:
            break
    if trace and found.layer is not None:
        _write_trace(backend, binary, job, found, res.cycles, out_dir)
    return found


def locate_node(
    model, node, x: np.ndarray, out_dir: Path, trace: bool, stall=(0, 0), seed: int = 1
) -> Mismatch:
    """One RTL node (as the ``rtl_nodes`` level simulates it: inputs ``x``, ``stall``, ``seed``)
    on its debug model: its first output word that differs from FINN's Python execution, and
    with ``trace`` the FST waveform around it."""
    from qonnx.custom_op.registry import getCustomOp

    n = len(x)
    geo = geometry(getCustomOp(node))
    want = python_exec(model, node, x).reshape(n * geo.out_words, geo.out_folded[-1])
    dbg = design.stitched_design(
        [design.node_design(model, node)], name=f"{node.name} (debug)", debug=True
    )
    backend = get_backend("verilator")
    binary = backend.compile(dbg)
    out_dir = Path(out_dir).absolute()
    job = geo.stream_job(x, out_dir / "work", stall, seed)
    job.tap_dir = out_dir / "taps"
    res = backend.run(binary, job)
    found = _compare(node, geo, res.taps[0], want, n) or Mismatch(None, frames=n)
    if trace and found.layer is not None:
        _write_trace(backend, binary, job, found, res.cycles, out_dir)
    return found
