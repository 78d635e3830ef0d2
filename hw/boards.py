"""FPGA boards: part numbers, FINN shell flow, synthesis family and resource tables.

Two kinds: Xilinx boards FINN targets (a shell flow), and open-FPGA boards (Lattice ECP5 /
iCE40) that only the open tool chain (hw/synth: Yosys, nextpnr) targets; FINN cannot, so a build
for one skips FINN's Vivado steps with :attr:`Board.finn_refusal` and builds the board bitstream
(UART wrapper + accelerator, hw/board) after code generation."""

from __future__ import annotations

from dataclasses import dataclass

from fewerbits.core.errors import UsageError


class BoardError(UsageError):
    """An unknown board or part."""


#: the part FINN's code generation is given for a board FINN cannot target (Board.finn_part)
CODEGEN_STAND_IN_PART = "xc7z020clg400-1"
#: FINN shell flow given with the stand-in part (only the steps through code generation run)
CODEGEN_STAND_IN_FLOW = "vivado_zynq"

#: synthesis family of a Xilinx part, by part-name prefix (hw/synth)
_XILINX_FAMILIES = (("xc7", "xc7"), ("xczu", "xcup"), ("xck26", "xcup"), ("xcu", "xcup"))


@dataclass(frozen=True)
class Board:
    """A board with the resources of its FPGA part.

    ``brams`` counts BRAM36 tiles on Xilinx parts and native block RAMs elsewhere
    (``bram_kind``: ECP5 DP16KD = 18 kbit, iCE40 SB_RAM40_4K = 4 kbit)."""

    name: str
    part: str
    shell_flow: str  # FINN ShellFlowType value: vivado_zynq or vitis_alveo; "" = not a FINN target
    luts: int
    brams: int
    dsps: int
    urams: int = 0
    family: str = ""  # synthesis family (xc7, xcup, ecp5, ice40); "" = from the Xilinx part
    package: str = ""  # open boards: the package nextpnr places for
    clock_mhz: float = 0.0  # open boards: the board's oscillator
    bram_kind: str = "BRAM36"

    @property
    def finn_part(self) -> str:
        """The part FINN generates code for: the board's own, or for an open-FPGA board a
        stand-in 7-series part (FINN's RTL layers then synthesize behaviourally: -DVERILATOR)."""
        return self.part if self.shell_flow else CODEGEN_STAND_IN_PART

    @property
    def synth_family(self) -> str:
        if self.family:
            return self.family
        for prefix, fam in _XILINX_FAMILIES:
            if self.part.lower().startswith(prefix):
                return fam
        return ""

    @property
    def finn_refusal(self) -> str | None:
        """None if FINN can build for this board, else why not (one line)."""
        if self.shell_flow:
            return None
        return (
            f"FINN cannot target {self.name} ({self.part}, not a Xilinx part): after code "
            "generation the open tools build its bitstream (step_fewerbits_board_bitstream: "
            f"Yosys + nextpnr); `fewerbits synth BUILD --family {self.synth_family}` for synthesis only"
        )

    def resources(self) -> dict[str, int]:
        return {"LUT": self.luts, "BRAM_36K": self.brams, "DSP": self.dsps, "URAM": self.urams}

    def capacity(self) -> dict[str, int]:
        """The part's size in the synthesis vocabulary (hw/synth RESOURCES)."""
        ffs = 2 * self.luts if self.synth_family in ("xc7", "xcup") else self.luts
        cap = {"LUT": self.luts, "FF": ffs, "DSP": self.dsps}
        if self.bram_kind == "BRAM36":
            cap |= {"BRAM36": self.brams, "BRAM18": 2 * self.brams}
        elif self.bram_kind == "DP16KD":
            cap["BRAM18"] = self.brams
        else:
            cap["BRAM4K"] = self.brams
        return cap


BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board("Pynq-Z1", "xc7z020clg400-1", "vivado_zynq", 53_200, 140, 220),
        Board("Pynq-Z2", "xc7z020clg400-1", "vivado_zynq", 53_200, 140, 220),
        Board("Ultra96", "xczu3eg-sbva484-1-e", "vivado_zynq", 70_560, 216, 360),
        Board("ZCU104", "xczu7ev-ffvc1156-2-e", "vivado_zynq", 230_400, 312, 1_728, 96),
        Board("KV260_SOM", "xck26-sfvc784-2LV-c", "vivado_zynq", 117_120, 144, 1_248, 64),
        Board("U250", "xcu250-figd2104-2L-e", "vitis_alveo", 1_728_000, 2_688, 12_288, 1_280),
        # open-FPGA boards (Yosys + nextpnr only): LUT4s, native block RAMs, multipliers
        Board(
            "ULX3S-85F", "LFE5U-85F", "", 83_640, 208, 156, 0, "ecp5", "CABGA381", 25.0, "DP16KD"
        ),
        Board("ULX3S-45F", "LFE5U-45F", "", 43_848, 108, 72, 0, "ecp5", "CABGA381", 25.0, "DP16KD"),
        Board("iCEBreaker", "iCE40UP5K", "", 5_280, 30, 8, 0, "ice40", "SG48", 12.0, "SB_RAM40_4K"),
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
        return board.finn_part, board
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
