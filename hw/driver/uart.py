"""The UART framing of an open-FPGA board (``fewerbits-uart/1``; the board side is
fewerbits' ``hw/board/hdl/fb_board.sv``), over any link with ``write``/``read``/``send_break``:
a real serial port (pyserial) or the simulated board top (``fewerbits.hw.board.sim``).

Host -> board ``FB 01 n_lo n_hi`` + n packed input frames (RUN), ``FB 02`` (INFO). Board ->
host ``FB 81 n_lo n_hi`` + n packed output frames + ``rx_xor tx_xor status``; ``FB 82`` + 13
bytes (version, then IN_BYTES, IN_WORDS, OUT_BYTES, OUT_WORDS, MAX_BATCH, CLKS_PER_BIT as
u16 little-endian). The frames are the DMA buffers the driver packs for every back end. A break
resets the board. Numpy only; pyserial is imported when a real port is opened.
"""

from __future__ import annotations

import time
from functools import reduce
from typing import Protocol

import numpy as np

from .errors import DriverError

SYNC, RUN, INFO, RUN_REPLY, INFO_REPLY = 0xFB, 0x01, 0x02, 0x81, 0x82
INFO_FIELDS = ("in_bytes", "in_words", "out_bytes", "out_words", "max_batch", "clks_per_bit")
STATUS_BITS = {
    0: "an input word was lost (the board's input FIFO was full)",
    1: "a UART framing error (baud rate mismatch or noise)",
    2: "a bad command or frame count",
    3: "a request arrived while a reply was being sent",
}
BREAK_S = 0.002  # >= 2 byte times at any baud the wrapper runs


class Link(Protocol):
    """A byte link to the board: a serial port, or the simulated board top."""

    def write(self, data: bytes) -> None: ...

    def read(self, n: int) -> bytes: ...

    def send_break(self, seconds: float) -> None: ...

    def close(self) -> None: ...


class SerialLink:
    """A real serial port (pyserial), 8N1 at the board's baud rate, no flow control."""

    def __init__(self, port: str, baud: int, timeout_s: float) -> None:
        try:
            import serial
        except ImportError as e:
            raise DriverError(
                f"backend 'serial' needs pyserial ({e}): pip install pyserial"
            ) from None
        try:
            self.port = serial.Serial(port, baud, timeout=timeout_s)
        except (serial.SerialException, ValueError) as e:
            raise DriverError(f"--port {port}: cannot open the serial port ({e})") from None

    def write(self, data: bytes) -> None:
        self.port.write(data)

    def read(self, n: int) -> bytes:
        return self.port.read(n)

    def send_break(self, seconds: float) -> None:
        self.port.break_condition = True
        time.sleep(seconds)
        self.port.break_condition = False
        time.sleep(seconds)
        self.port.reset_input_buffer()

    def close(self) -> None:
        self.port.close()


def xor(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


def _read(link: Link, n: int, what: str) -> bytes:
    got = link.read(n)
    if len(got) != n:
        raise DriverError(
            f"board link: {what}: got {len(got)} of {n} bytes (board not programmed, wrong "
            "port or baud rate, or the link timed out)"
        )
    return got


class UartProtocol:
    """The host side of the board's framing, on a :class:`Link`."""

    def __init__(self, link: Link, spec: dict) -> None:
        self.link = link
        self.spec = spec

    def reset(self) -> dict:
        """Break (resets the board), then INFO: the board's parameters, checked against
        settings.json's ``link``."""
        self.link.send_break(BREAK_S)
        self.link.write(bytes([SYNC, INFO]))
        hdr = _read(self.link, 2, "INFO reply")
        if hdr != bytes([SYNC, INFO_REPLY]):
            raise DriverError(f"board link: INFO reply starts {hdr.hex()}, expected fb82")
        body = _read(self.link, 13, "INFO reply")
        info = {"version": body[0]}
        for k, name in enumerate(INFO_FIELDS):
            info[name] = int.from_bytes(body[1 + 2 * k : 3 + 2 * k], "little")
        for name in INFO_FIELDS:
            if info[name] != self.spec[name]:
                raise DriverError(
                    f"the board's {name} is {info[name]}, settings.json's link says "
                    f"{self.spec[name]}: the bitstream on the board is not this package's "
                    "(program it: see README.md)"
                )
        return info

    def run(self, packed: np.ndarray, out_frame_bytes: int) -> np.ndarray:
        """Packed input frames (N, ...) uint8 -> packed output frames (N, out_frame_bytes),
        in RUN commands of at most ``max_batch`` frames."""
        n = packed.shape[0]
        flat = np.ascontiguousarray(packed, dtype=np.uint8).reshape(n, -1)
        outs = []
        for i in range(0, n, self.spec["max_batch"]):
            chunk = flat[i : i + self.spec["max_batch"]]
            outs.append(self._run(chunk, out_frame_bytes))
        return np.concatenate(outs, axis=0)

    def _run(self, chunk: np.ndarray, out_frame_bytes: int) -> np.ndarray:
        k = chunk.shape[0]
        payload = chunk.tobytes()
        self.link.write(bytes([SYNC, RUN]) + k.to_bytes(2, "little") + payload)
        hdr = _read(self.link, 4, "RUN reply header")
        want = bytes([SYNC, RUN_REPLY]) + k.to_bytes(2, "little")
        if hdr != want:
            raise DriverError(f"board link: RUN reply header {hdr.hex()}, expected {want.hex()}")
        data = _read(self.link, k * out_frame_bytes, f"output of {k} frames")
        rx_x, tx_x, status = _read(self.link, 3, "RUN reply trailer")
        errors = [msg for bit, msg in STATUS_BITS.items() if status >> bit & 1]
        if errors:
            raise DriverError(f"board link: the board reports {'; '.join(errors)}")
        if rx_x != xor(payload):
            raise DriverError("board link: the board received other input bytes than were sent")
        if tx_x != xor(data):
            raise DriverError("board link: the output bytes were corrupted on the way back")
        return np.frombuffer(data, dtype=np.uint8).reshape(k, out_frame_bytes)
