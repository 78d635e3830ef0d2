"""What every simulator / synthesis back end takes and returns.

A back end turns a :class:`Design` (the generated top-level sources) into a :class:`Binary`
(a simulation executable, or a netlist model: whatever it runs), then streams a
:class:`StreamJob` (packed input words, frame geometry, stall settings) through it and returns a
:class:`StreamResult` (packed output words, handshake cycles per frame, wall time).

The top module has one uniform AXI-stream interface, so one harness serves every design::

    module <top>(input ap_clk, input ap_rst_n,
                 input  [IW-1:0] in_tdata,  input  in_tvalid,  output in_tready,
                 output [OW-1:0] out_tdata, output out_tvalid, input  out_tready);

Memory-init files (``$readmemh`` .dat files) are listed in :attr:`Design.data_files`; a back end
decides whether they are compiled in (then they belong in its cache key) or read at run time
from :attr:`StreamJob.workdir` (:meth:`Design.stage_data` copies them there).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from fewerbits.core.errors import FewerbitsError


class RtlSimError(FewerbitsError):
    """A simulator build or simulation that failed; one line naming the design and the cause."""


class SimulationFailed(RtlSimError):
    """A run that stopped (timeout, assertion); ``fifo_count`` holds each monitored FIFO's
    occupancy at that moment when the top has FIFO monitors (to name a full / an empty one)."""

    def __init__(self, message: str, fifo_count: list[int] | None = None) -> None:
        super().__init__(message)
        self.fifo_count = fifo_count


@dataclass(frozen=True)
class Design:
    """Generated sources of one simulation top level."""

    name: str  # for messages: a node name or "stitched accelerator"
    sources: dict[str, str]  # file name -> (System)Verilog text; must define ``top``
    top: str = "fb_top"
    include_dirs: tuple[Path, ...] = ()
    data_files: dict[str, Path] = field(default_factory=dict)  # name in workdir -> source file
    #: FIFOs whose occupancy the top reports: it then has outputs ``fb_fifo_count`` and
    #: ``fb_fifo_max``, 32 bits per FIFO (FIFO k in bits 32k..32k+31)
    fifo_monitors: int = 0
    #: a C++ test bench of its own instead of the AXI-stream harness (a board top's UART bench,
    #: hw/board/sim.py); it is part of the compiled model's cache key
    harness: str = ""
    #: debugging: bytes per word of each tapped stream (the top then has outputs
    #: ``fb_tap_fire`` (bit k: stream k handshakes) and ``fb_tap_data`` (stream k's data at
    #: byte offset sum(taps[:k]), each padded to a multiple of 4 bytes)); empty: no taps
    taps: tuple[int, ...] = ()
    #: debugging: the model can write an FST waveform (``StreamJob.trace_file``)
    trace: bool = False
    #: a model for a few short runs (FIFO sizing): a back end may compile it for build time
    #: rather than run time (Verilator: C++ -O0, one translation unit)
    quick: bool = False

    def stage_data(self, workdir: Path) -> Path:
        """Copy every memory file the design reads into ``workdir`` (fresh copies each time, so
        an edited .dat file changes the next run without a rebuild)."""
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        for name, src in self.data_files.items():
            shutil.copyfile(src, workdir / name)
        return workdir


@dataclass
class Binary:
    """A compiled simulation model (cached by its back end under ``key``)."""

    path: Path
    key: str
    cache_hit: bool
    build_seconds: float
    design: Design | None = field(default=None, repr=False)
    backend: str = ""
    build_cpu_seconds: float = 0.0  # CPU time of the build (0 from the cache), where known


@dataclass
class StreamJob:
    """Frames to stream through a binary: packed words, geometry and stall settings."""

    words: np.ndarray  # uint8 (frames * in_words_per_frame, in_bytes)
    out_bytes: int
    in_words_per_frame: int
    out_words_per_frame: int
    frames: int
    workdir: Path  # the simulation's working directory (memory files are read from it)
    in_stall: int = 0  # percent of cycles the input withholds valid
    out_stall: int = 0  # percent of cycles the output withholds ready
    seed: int = 1
    max_idle: int = 200_000  # cycles without an output word before the run is a timeout
    in_frame_interval: int = 0  # >0: frame f's first input word no earlier than cycle f * this
    tap_dir: Path | None = None  # a design with taps: record every tapped handshake there
    trace_file: Path | None = None  # a design with trace: write an FST waveform here
    trace_window: tuple[int, int] = (0, -1)  # cycles [first, last] the waveform covers


@dataclass
class StreamResult:
    """Output words (N, out_bytes) and per-frame handshake cycles."""

    out: np.ndarray
    cycles: int
    first_in: np.ndarray  # cycle of each frame's first input handshake
    last_out: np.ndarray  # cycle of each frame's last output handshake
    seconds: float
    fifo_max: np.ndarray | None = None  # per monitored FIFO: maximum occupancy of the run
    cpu_seconds: float | None = None  # the simulation's CPU time, where the back end knows it
    #: per tapped stream: (words (M, bytes) uint8, cycle of each handshake (M,) int64)
    taps: list[tuple[np.ndarray, np.ndarray]] | None = None


@runtime_checkable
class SimBackend(Protocol):
    """A simulator (or synthesis + simulator) that runs :class:`Design` top levels."""

    name: str

    def available(self) -> str | None:
        """None if the back end can run here, else the one-line reason."""
        ...

    def compile(self, design: Design) -> Binary:
        """Sources -> simulation binary/netlist, from the back end's cache when unchanged."""
        ...

    def run(self, binary: Binary, stream: StreamJob) -> StreamResult:
        """Stream ``stream.words`` through ``binary``; packed outputs and cycle counts."""
        ...


def stop_bench(proc: subprocess.Popen, quit_cmd: bytes = b"Q") -> None:
    """End a persistent simulation bench (pipe protocol): send ``quit_cmd``, wait, else kill;
    close its pipes."""
    if proc.poll() is None:
        try:
            proc.stdin.write(quit_cmd)
            proc.stdin.flush()
            proc.wait(timeout=10)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            proc.kill()
    for f in (proc.stdin, proc.stdout, proc.stderr):
        f.close()
