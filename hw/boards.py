"""FPGA boards: part numbers, FINN shell flow and resource tables."""

from __future__ import annotations

from dataclasses import dataclass

from fewerbits.errors import FewerbitsError


class BoardError(FewerbitsError):
    """An unknown board or part."""


@dataclass(frozen=True)
class Board:
    """A board FINN can target, with the resources of its FPGA part."""

    name: str
    part: str
    shell_flow: str  # FINN ShellFlowType value: vivado_zynq or vitis_alveo
    luts: int
    brams: int  # BRAM36 tiles
    dsps: int
    urams: int = 0

    def resources(self) -> dict[str, int]:
        return {"LUT": self.luts, "BRAM_36K": self.brams, "DSP": self.dsps, "URAM": self.urams}


BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board("Pynq-Z1", "xc7z020clg400-1", "vivado_zynq", 53_200, 140, 220),
        Board("Pynq-Z2", "xc7z020clg400-1", "vivado_zynq", 53_200, 140, 220),
        Board("Ultra96", "xczu3eg-sbva484-1-e", "vivado_zynq", 70_560, 216, 360),
        Board("ZCU104", "xczu7ev-ffvc1156-2-e", "vivado_zynq", 230_400, 312, 1_728, 96),
        Board("KV260_SOM", "xck26-sfvc784-2LV-c", "vivado_zynq", 117_120, 144, 1_248, 64),
        Board("U250", "xcu250-figd2104-2L-e", "vitis_alveo", 1_728_000, 2_688, 12_288, 1_280),
    )
}


def get_board(name: str) -> Board:
    """Look a board up by name (case-insensitive)."""
    for key, board in BOARDS.items():
        if key.lower() == name.lower():
            return board
    raise BoardError(f"unknown board {name!r}; choose one of {', '.join(BOARDS)}")
