"""The board wrapper: the stitched accelerator behind a UART, for an open-FPGA board.

``hdl/`` holds the hand-written SystemVerilog (UART receiver and transmitter, a stream FIFO,
``fb_board``: the framing protocol of :mod:`fewerbits.hw.driver.uart` and the accelerator
between an input and an output FIFO). :func:`board_design` adds the stitched ``fb_top`` of a
build (hw/rtlsim/design.py, the sources every simulation and synthesis uses) and a top module
with the board's own pin names, and :func:`constraints` writes the board's pin file (.lpf for
ECP5 with nextpnr's FREQUENCY, .pcf for iCE40), from the boards' public constraint files.

Clock: the board's oscillator, no PLL: the accelerator closes timing there with margin (the
demo at 48 MHz on the LFE5U-85F, the report states Fmax), and 1 Mbaud is an exact divisor of
both oscillators (25 MHz / 25, 12 MHz / 12), so the bit time has no rounding error; the FTDI
chips (FT231X on ULX3S, FT2232H on iCEBreaker) make 1 Mbaud exactly (3 MHz / 3, 12 MHz / 12).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..boards import BOARDS, Board
from ..rtlsim import design
from ..sim import Design, RtlSimError

HDL = Path(__file__).with_name("hdl")
HDL_FILES = (
    "fb_uart_rx.sv",
    "fb_uart_tx.sv",
    "fb_stream_fifo.sv",
    "fb_frame_counter.sv",
    "fb_board.sv",
)
TOP = "fb_board_top"
BAUD = 1_000_000
PROTOCOL = "fewerbits-uart/1"
#: frames one RUN command may carry at most (the output FIFO holds a whole batch)
MAX_BATCH = 16
#: output words the output FIFO may hold at most (the batch shrinks for large outputs)
MAX_OUT_WORDS = 4096
IN_FIFO = 16


@dataclass(frozen=True)
class Pins:
    """A board's pins the wrapper uses: top-level port name -> package site."""

    clock: str
    rx: str  # FPGA receives (the FTDI's TXD)
    tx: str  # FPGA transmits (the FTDI's RXD)
    leds: tuple[str, ...]  # two LEDs: busy, error
    led_active_low: bool
    sites: dict[str, str]
    constant_high: tuple[str, ...] = ()  # outputs driven 1 (ULX3S: wifi_gpio0 keeps the ESP32 off)
    source: str = ""


#: the boards' pin constraint files (public), by synthesis family
PIN_SOURCES = {
    "ecp5": "emard/ulx3s doc/constraints/ulx3s_v20.lpf (ULX3S v2.x and v3.x)",
    "ice40": "YosysHQ/icestorm examples/icebreaker/icebreaker.pcf (iCEBreaker v1.0)",
}
#: the pins the wrapper uses, from those files: (family, role, top-level port, package site);
#: roles: clock, rx (the FPGA receives: the FTDI's TXD), tx (the FPGA transmits: the FTDI's
#: RXD), led / led_n (busy, then error; led_n active low), high (an output driven 1)
PIN_TABLE = (
    ("ecp5", "clock", "clk_25mhz", "G2"),
    ("ecp5", "rx", "ftdi_txd", "M1"),
    ("ecp5", "tx", "ftdi_rxd", "L4"),
    ("ecp5", "led", "led[0]", "B2"),
    ("ecp5", "led", "led[1]", "C2"),
    ("ecp5", "high", "wifi_gpio0", "L2"),  # keeps the ESP32 off
    ("ice40", "clock", "CLK", "35"),
    ("ice40", "rx", "RX", "6"),
    ("ice40", "tx", "TX", "9"),
    ("ice40", "led_n", "LEDG_N", "37"),
    ("ice40", "led_n", "LEDR_N", "11"),
)


def _pins(family: str) -> Pins:
    """``family``'s :class:`Pins` from its rows of :data:`PIN_TABLE`."""
    rows = [(role, port, site) for f, role, port, site in PIN_TABLE if f == family]

    def ports(*roles: str) -> tuple[str, ...]:
        return tuple(port for role, port, _ in rows if role in roles)

    (clock,), (rx,), (tx,) = ports("clock"), ports("rx"), ports("tx")
    sites = {port: site for _, port, site in rows}
    low = bool(ports("led_n"))
    return Pins(
        clock, rx, tx, ports("led", "led_n"), low, sites, ports("high"), PIN_SOURCES[family]
    )


#: the boards' pins, by synthesis family
PINS: dict[str, Pins] = {family: _pins(family) for family in PIN_SOURCES}


#: the boards a bitstream can be built for here
OPEN_BOARDS = tuple(b.name for b in BOARDS.values() if not b.shell_flow and b.synth_family in PINS)


@dataclass
class Link:
    """The UART link of a board build (also written to settings.json ``link``)."""

    board: str
    clock_mhz: float
    baud: int
    clks_per_bit: int
    in_bytes: int
    in_words: int
    out_bytes: int
    out_words: int
    max_batch: int
    in_fifo: int
    out_fifo: int
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "params"}
        return {"kind": "uart", "protocol": PROTOCOL, "top": TOP, **d}


def _pow2(n: int) -> int:
    return 1 << max(1, (n - 1).bit_length())


def pins_of(board: Board) -> Pins:
    if board.synth_family not in PINS:
        raise RtlSimError(f"{board.name}: no board wrapper for family {board.synth_family!r}")
    return PINS[board.synth_family]


def link_for(board: Board, in_bytes: int, in_words: int, out_bytes: int, out_words: int) -> Link:
    """The link parameters: baud divisor (exact, else refused), batch size, FIFO depths."""
    clk = round(board.clock_mhz * 1e6)
    cpb = clk // BAUD
    if cpb < 4 or clk % BAUD:
        raise RtlSimError(
            f"{board.name}: {board.clock_mhz:g} MHz is no whole multiple of {BAUD} baud"
        )
    batch = max(1, min(MAX_BATCH, MAX_OUT_WORDS // max(1, out_words)))
    link = Link(
        board.name,
        board.clock_mhz,
        BAUD,
        cpb,
        in_bytes,
        in_words,
        out_bytes,
        out_words,
        batch,
        IN_FIFO,
        _pow2(batch * out_words),
    )
    link.params = {
        "CLKS_PER_BIT": cpb,
        "IN_BYTES": in_bytes,
        "IN_WORDS": in_words,
        "OUT_BYTES": out_bytes,
        "OUT_WORDS": out_words,
        "MAX_BATCH": batch,
        "IN_FIFO": link.in_fifo,
        "OUT_FIFO": link.out_fifo,
    }
    return link


def check_rate(link: Link, cycles_per_frame: float) -> None:
    """The accelerator must take a frame faster than the UART delivers it (with a factor 2 of
    margin); the input FIFO then absorbs its stalls and no input word is lost."""
    link_cycles = link.in_words * link.in_bytes * 10 * link.clks_per_bit
    if cycles_per_frame * 2 > link_cycles:
        raise RtlSimError(
            f"the accelerator needs {cycles_per_frame:,.0f} cycles per frame, the UART delivers "
            f"one every {link_cycles:,} cycles: too slow for the {link.baud} baud link "
            "(fold it for more throughput)"
        )


def top_module(board: Board, link: Link) -> str:
    """``fb_board_top`` with the board's pin names around ``fb_board``."""
    p = pins_of(board)
    inv = "~" if p.led_active_low else ""
    ports = [f"input logic {p.clock}", f"input logic {p.rx}", f"output logic {p.tx}"]
    ports += [f"output logic {n}" for n in p.constant_high]
    vec = p.leds[0].split("[")[0] if "[" in p.leds[0] else None
    if vec:  # the board's LED vector (led[0], led[1])
        ports.append(f"output logic [{len(p.leds) - 1}:0] {vec}")
        assigns = [f"assign {vec} = {inv}led_w;"]
    else:
        ports += [f"output logic {n}" for n in p.leds]
        assigns = [f"assign {n} = {inv}led_w[{k}];" for k, n in enumerate(p.leds)]
    assigns += [f"assign {n} = 1'b1;" for n in p.constant_high]
    params = ", ".join(f".{k}({v})" for k, v in link.params.items())
    body = "".join(f"  {a}\n" for a in assigns)
    return (
        f"// generated by fewerbits (hw/board/wrapper.py) for {board.name}; pins: {p.source}\n"
        f"module {TOP} (\n  " + ",\n  ".join(ports) + "\n);\n"
        f"  logic [1:0] led_w;\n"
        f"  fb_board #({params}) board (\n"
        f"    .clk({p.clock}), .uart_rx({p.rx}), .uart_tx({p.tx}), .led(led_w));\n"
        f"{body}endmodule\n"
    )


def constraints(board: Board) -> tuple[str, str]:
    """(file name, text) of the board's pin constraints for nextpnr."""
    p = pins_of(board)
    if board.synth_family == "ecp5":
        lines = [f"# {board.name}: pins from {p.source}"]
        for port, site in p.sites.items():
            lines.append(f'LOCATE COMP "{port}" SITE "{site}";')
            pull = " PULLMODE=UP" if port == p.rx else ""
            lines.append(f'IOBUF PORT "{port}" IO_TYPE=LVCMOS33{pull};')
        lines.append(f'FREQUENCY PORT "{p.clock}" {board.clock_mhz:g} MHZ;')
        return "board.lpf", "\n".join(lines) + "\n"
    lines = [f"# {board.name}: pins from {p.source}"]
    lines += [f"set_io -nowarn {port} {site}" for port, site in p.sites.items()]
    lines.append(f"set_frequency {p.clock} {board.clock_mhz:g}")
    return "board.pcf", "\n".join(lines) + "\n"


def hdl_sources() -> dict[str, str]:
    """The wrapper's own SystemVerilog files."""
    return {name: (HDL / name).read_text() for name in HDL_FILES}


def board_design(designs: list[design.NodeDesign], fifo_depths, board: Board, link: Link) -> Design:
    """The whole board top: stitched accelerator + wrapper + the board's top module."""
    sources = design.stitched_top(designs, fifo_depths)
    sources.update(hdl_sources())
    sources[f"{TOP}.sv"] = top_module(board, link)
    data = {k: v for d in designs for k, v in d.data_files.items()}
    return Design(f"{board.name} board top", sources, top=TOP, data_files=data)
