"""FPGA boards: part numbers, FINN shell flow and resource tables."""

from __future__ import annotations

from dataclasses import dataclass

from fewerbits.core.errors import FewerbitsError


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


#: extra parts accepted by --part (FINN knows them; no resource table here, so no --fit)
KNOWN_PARTS = {
    "xc7z010clg400-1",
    "xc7z045ffg900-2",
    "xczu3eg-sbva484-1-i",
    "xczu3eg-sfvc784-2-e",
    "xczu9eg-ffvb1156-2-e",
    "xczu28dr-ffvg1517-2-e",
    "xczu48dr-ffvg1517-2-e",
    "xcu50-fsvh2104-2L-e",
    "xcu200-fsgd2104-2-e",
    "xcu280-fsvh2892-2L-e",
    "xcu55c-fsvh2892-2L-e",
}


def resolve_part(board: Board, part: str | None) -> tuple[str, Board | None]:
    """The FPGA part to build for, and the Board whose resource table describes it (None when
    ``--part`` names a part known to FINN but not in the resource tables)."""
    if part is None:
        return board.part, board
    for b in BOARDS.values():
        if b.part.lower() == part.lower():
            return b.part, b
    for p in KNOWN_PARTS:
        if p.lower() == part.lower():
            return p, None
    parts = sorted({b.part for b in BOARDS.values()} | KNOWN_PARTS)
    raise BoardError(f"unknown part {part!r}; use one of {', '.join(parts)} (or omit --part)")


def board_of_part(part: str | None) -> str | None:
    """The first board whose FPGA is ``part`` (None for no part or a part without a board)."""
    return next((b.name for b in BOARDS.values() if part and b.part.lower() == part.lower()), None)


def get_board(name: str) -> Board:
    """Look a board up by name (case-insensitive)."""
    for key, board in BOARDS.items():
        if key.lower() == name.lower():
            return board
    raise BoardError(f"unknown board {name!r}; choose one of {', '.join(BOARDS)}")
