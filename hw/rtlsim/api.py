"""The stitched accelerator as a packed-stream device (API for the driver, issue 7).

Contract
--------
``StitchedSimulator(build_dir, simulator="verilator")`` compiles (or takes from the cache) the
simulation model of all dataflow layers of a code-generated, all-RTL build directory, with the
simulator back end of that name (:func:`fewerbits.hw.sim.backend_names`). It behaves like the
accelerator behind the PYNQ DMA engines:

* ``in_width_bits`` / ``out_width_bits``: AXI-stream widths of the accelerator's input and
  output, padded to a multiple of 8 bits as FINN pads them; ``in_bytes_per_word`` /
  ``out_bytes_per_word`` are these divided by 8.
* ``in_words`` / ``out_words``: stream words per frame (product of the folded shape without the
  batch and innermost dimension).
* ``run_packed(packed_in)``: ``packed_in`` is ``np.uint8`` of shape
  ``(N, in_words, in_bytes_per_word)``, exactly the DMA buffer FINN's driver fills with
  ``finn.util.data_packing.finnpy_to_packed_bytearray(folded, idt, reverse_endian=True,
  reverse_inner=True)``: within a word, bytes are little-endian and element 0 of the folded
  innermost dimension sits in the least significant bits. Returns ``np.uint8``
  ``(N, out_words, out_bytes_per_word)`` in the same layout (unpack with
  ``packed_bytearray_to_finnpy(..., reverse_endian=True, reverse_inner=True)``). The N frames are
  streamed back to back through one simulation.
* ``idt`` / ``odt``, ``ishape_normal``/``ishape_folded``/``oshape_normal``/``oshape_folded``:
  FINN DataTypes and shapes (batch 1) of the accelerator's input and output, as in FINN's
  driver settings (folded shapes always with the leading batch dimension).
* ``last_timing()``: cycles per frame (steady state), latency and simulation speed of the last
  ``run_packed`` call.

Raises :class:`fewerbits.hw.sim.RtlSimError` (a ``FewerbitsError``) with one line
when the build is not code-generated, has HLS layers, the simulator is unknown
(:class:`~fewerbits.hw.sim.UnknownSimulatorError`), or the input has the wrong shape.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..sim import DEFAULT_SIMULATOR, RtlSimError
from .sim import Stitched


class StitchedSimulator:
    """Simulation model of the whole accelerator, fed and read as packed DMA buffers."""

    def __init__(
        self,
        build_dir: Path | str,
        stall: tuple[int, int] = (0, 0),
        simulator: str = DEFAULT_SIMULATOR,
    ):
        self._s = Stitched(Path(build_dir), simulator=simulator)
        self.simulator = simulator
        self.binary = self._s.compile()
        g = self._s.geo
        self.stall = stall
        self.idt, self.odt = g.idt, g.odt
        self.in_width_bits, self.out_width_bits = g.in_bytes * 8, g.out_bytes * 8
        self.in_bytes_per_word, self.out_bytes_per_word = g.in_bytes, g.out_bytes
        self.in_words, self.out_words = g.in_words, g.out_words
        self.ishape_normal, self.oshape_normal = g.in_normal, g.out_normal
        self.ishape_folded, self.oshape_folded = g.in_folded, g.out_folded

    def run_packed(self, packed_in: np.ndarray) -> np.ndarray:
        """(N, in_words, in_bytes_per_word) uint8 -> (N, out_words, out_bytes_per_word) uint8."""
        a = np.asarray(packed_in)
        want = (self.in_words, self.in_bytes_per_word)
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[1:] != want:
            raise RtlSimError(
                f"run_packed: input must be uint8 of shape (N, {want[0]}, {want[1]}), "
                f"got {a.dtype} {a.shape}"
            )
        n = a.shape[0]
        res = self._s.run_words(a.reshape(n * self.in_words, -1), n, self.stall)
        return res.out.reshape(n, self.out_words, self.out_bytes_per_word)

    def last_timing(self) -> dict:
        return self._s.timing()
