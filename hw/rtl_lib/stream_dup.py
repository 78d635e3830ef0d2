"""``DuplicateStreams_rtl``: FINN's ``DuplicateStreams`` (the fork of a residual block) as this
project's RTL.

FINN's base ``DuplicateStreams`` gives the attributes (``NumChannels``, ``PE``,
``NumOutputStreams``, ``numInputVectors``), shapes, folding and the Python execution; the core
is ``hdl/stream_dup.sv``: every input word to each output, no data register, zero latency.
FINN has this layer only as HLS (``DuplicateStreams_hls``).
"""

from __future__ import annotations

import numpy as np

from .common import RtlLibOp, finn_class, finn_error

OP_TYPE = "DuplicateStreams_rtl"


class DuplicateStreamsRTL(RtlLibOp):
    """The implementation of ``DuplicateStreams_rtl`` (see :func:`op_class`)."""

    core = "stream_dup"
    core_files = ("stream_dup.sv",)

    def check_supported(self) -> None:
        name = self.onnx_node.name
        if self.get_nodeattr("NumChannels") % self.get_nodeattr("PE"):
            raise finn_error(f"{name}: PE must divide NumChannels")
        if self.get_nodeattr("NumOutputStreams") != len(self.onnx_node.output):
            raise finn_error(f"{name}: NumOutputStreams differs from the node's outputs")

    def core_params(self) -> dict[str, int | str]:
        return {"WIDTH": self.get_instream_width(0), "N": self.get_nodeattr("NumOutputStreams")}

    def core_streams(self) -> list[tuple[str, str, list[str], int, int]]:
        n = self.get_nodeattr("NumOutputStreams")
        w, p = self.get_instream_width(0), self.get_instream_width_padded(0)
        return [
            ("s", "in", ["in0_V"], w, p),
            ("m", "out", [f"out{i}_V" for i in range(n)], w, self.get_outstream_width_padded(0)),
        ]

    def get_exp_cycles(self) -> int:
        """One word per cycle: (NumChannels/PE) * numInputVectors (FINN's model)."""
        vecs = int(np.prod(self.get_nodeattr("numInputVectors")))
        return vecs * (self.get_nodeattr("NumChannels") // self.get_nodeattr("PE"))

    def lut_estimation(self, fpgapart=None) -> int:
        """A structural model, not calibrated by synthesis: wires for the data, per output one
        'sent' flip-flop and its next-state LUT, one LUT for the input ready."""
        return int(2 * self.get_nodeattr("NumOutputStreams") + 1)

    def bram_estimation(self, fpgapart=None) -> int:
        return 0


def op_class() -> type:
    """``DuplicateStreams_rtl`` as a FINN hardware op (``DuplicateStreams`` + ``RTLBackend``)."""
    from finn.custom_op.fpgadataflow.duplicatestreams import DuplicateStreams  # lazy: FINN

    return finn_class(OP_TYPE, DuplicateStreamsRTL, DuplicateStreams)
