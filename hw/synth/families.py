"""Per FPGA family: the Yosys synthesis command and how its cells map onto :data:`RESOURCES`."""

from __future__ import annotations

from dataclasses import dataclass, field

from .protocol import RESOURCES, SynthOptionError

#: Xilinx distributed-RAM / shift-register cells and the LUTs each occupies (as Vivado counts
#: "LUT as Memory")
_XILINX_LUTRAM = {
    "RAM32M": 4,
    "RAM32M16": 8,
    "RAM64M": 4,
    "RAM64M8": 8,
    "RAM32X1D": 2,
    "RAM64X1D": 2,
    "RAM128X1D": 4,
    "RAM32X1S": 1,
    "RAM64X1S": 1,
    "RAM128X1S": 2,
    "RAM256X1S": 4,
    "SRL16E": 1,
    "SRLC16E": 1,
    "SRLC32E": 1,
}


@dataclass(frozen=True)
class Family:
    """One FPGA family as Yosys maps to it."""

    name: str
    description: str
    synth: str  # the Yosys command (``-top`` and options are appended)
    cells: dict[str, tuple[str, int]]  # exact cell type -> (resource, units per cell)
    prefixes: dict[str, str] = field(default_factory=dict)  # cell-type prefix -> resource
    nobram: str = "-nobram"
    nodsp: str = "-nodsp"
    dsp_on: str = ""  # the flag that enables DSP inference, when it is off by default
    blackboxes: tuple[str, ...] = ()  # vendor primitives FINN instantiates (compat stubs)

    def command(self, top: str, nobram: bool, nodsp: bool) -> str:
        opts = [f"-top {top}"]
        if nobram:
            opts.append(self.nobram)
        if nodsp and self.nodsp:
            opts.append(self.nodsp)
        if not nodsp and self.dsp_on:
            opts.append(self.dsp_on)
        return " ".join([self.synth, *opts])

    def resources(self, cells: dict[str, int]) -> dict[str, int]:
        """Cell counts -> :data:`RESOURCES` (cells that are none of them are left out)."""
        out = dict.fromkeys(RESOURCES, 0)
        for cell, n in cells.items():
            kind = self.cells.get(cell)
            if kind is None:
                res = next((r for p, r in self.prefixes.items() if cell.startswith(p)), None)
                kind = (res, 1) if res else None
            if kind is not None:
                out[kind[0]] += n * kind[1]
        return out


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "xc7",
            "Xilinx 7-series (Zynq-7000: Pynq-Z1/Z2)",
            "synth_xilinx -family xc7",
            {
                "LUT6_2": ("LUT", 1),
                "CARRY4": ("CARRY", 1),
                "RAMB18E1": ("BRAM18", 1),
                "RAMB36E1": ("BRAM36", 1),
                "DSP48E1": ("DSP", 1),
                **{c: ("LUTRAM", n) for c, n in _XILINX_LUTRAM.items()},
            },
            {"LUT": "LUT", "FD": "FF"},
            blackboxes=("DSP48E1", "LUT6_2"),
        ),
        Family(
            "ecp5",
            "Lattice ECP5 (ULX3S)",
            "synth_ecp5",
            {
                "LUT4": ("LUT", 1),
                "TRELLIS_FF": ("FF", 1),
                "CCU2C": ("CARRY", 1),
                "TRELLIS_DPR16X4": ("LUTRAM", 1),
                "DP16KD": ("BRAM18", 1),
                "MULT18X18D": ("DSP", 1),
            },
        ),
        Family(
            "ice40",
            "Lattice iCE40 UltraPlus (iCEBreaker)",
            "synth_ice40",
            {
                "SB_LUT4": ("LUT", 1),
                "SB_CARRY": ("CARRY", 1),
                "SB_RAM40_4K": ("BRAM4K", 1),
                "SB_MAC16": ("DSP", 1),
            },
            {"SB_DFF": "FF"},
            nodsp="",
            dsp_on="-dsp",
        ),
    )
}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise SynthOptionError(f"--family {name!r}: choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def percent_of_part(resources: dict[str, int], capacity: dict[str, int]) -> dict[str, float]:
    """Utilisation in % of the part: LUT (logic + LUTRAM), FF, block RAM, DSP."""
    out = {}
    if capacity.get("LUT"):
        out["LUT"] = 100.0 * (resources["LUT"] + resources["LUTRAM"]) / capacity["LUT"]
    if capacity.get("FF"):
        out["FF"] = 100.0 * resources["FF"] / capacity["FF"]
    if capacity.get("BRAM36"):
        out["BRAM"] = 100.0 * (resources["BRAM36"] + resources["BRAM18"] / 2) / capacity["BRAM36"]
    elif capacity.get("BRAM18"):
        out["BRAM"] = 100.0 * resources["BRAM18"] / capacity["BRAM18"]
    elif capacity.get("BRAM4K"):
        out["BRAM"] = 100.0 * resources["BRAM4K"] / capacity["BRAM4K"]
    if capacity.get("DSP"):
        out["DSP"] = 100.0 * resources["DSP"] / capacity["DSP"]
    return {k: round(v, 2) for k, v in out.items()}
