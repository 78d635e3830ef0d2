"""The whole board top (wrapper + accelerator) in Verilator, as a byte link for the driver.

The C++ bench plays the host's side of the wire at bit level: it drives the FPGA's receive pin
with 8N1 frames at the host's baud rate (start bit, 8 data bits LSB first, stop bit; its own
bit clock, independent of the wrapper's UART) and decodes the FPGA's transmit pin by sampling
each bit in its middle, counting framing errors. It runs as a persistent process; the driver's
:class:`fewerbits.hw.driver.uart.UartProtocol` talks to it through :class:`SimulatedBoard`
(``write``/``read``/``send_break``: the same interface as a pyserial port), so the driver's
serial code path is the one tested. Simulated time only advances while the host waits for
bytes (a host that never pauses).

Pipe protocol (stdin -> bench): ``W <u32 n> <n bytes>`` queue bytes on the line; ``R <u32 n>
<u64 idle>`` run until n bytes came back (or ``idle`` cycles without activity), answer
``K|T <u32 k> <k bytes> <u64 cycle> <u64 framing errors>``; ``B <u64 cycles>`` hold the line
low (a break), then idle it, drop what was received (answered like R); ``Q`` quit.
"""

from __future__ import annotations

import struct
import subprocess
import time
from pathlib import Path

from ..sim import DEFAULT_SIMULATOR, Binary, RtlSimError, get_backend
from ..sim.protocol import stop_bench
from .build import BoardPlan

BENCH_CPP = r"""
// fewerbits board-top UART bench (generated; see hw/board/sim.py)
#include "V@TOP@.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <vector>

static V@TOP@* top;
static uint64_t cyc = 0, period_q8 = 0, brk_until = 0, frame_errors = 0, last_activity = 0;
static std::deque<uint8_t> line_q;          // host -> board bytes not yet on the wire
static bool drv_on = false; static uint64_t drv_start = 0; static uint8_t drv_byte = 0;
static int rcv_bit = -1; static uint64_t rcv_next = 0; static uint8_t rcv_byte = 0;
static std::vector<uint8_t> got;            // board -> host bytes not yet read

static int line_level() {
    uint64_t now = cyc << 8;
    if (cyc < brk_until) return 0;
    if (drv_on && (now - drv_start) / period_q8 >= 10) drv_on = false;
    if (!drv_on && !line_q.empty()) {
        drv_byte = line_q.front(); line_q.pop_front(); drv_on = true; drv_start = now;
    }
    if (!drv_on) return 1;
    uint64_t k = (now - drv_start) / period_q8;
    last_activity = cyc;
    if (k == 0) return 0;
    if (k <= 8) return (drv_byte >> (k - 1)) & 1;
    return 1;
}

static void sample_tx(int tx) {
    uint64_t now = cyc << 8;
    if (rcv_bit < 0) {
        if (!tx) { rcv_bit = 0; rcv_next = now + period_q8 * 3 / 2; rcv_byte = 0; }
        return;
    }
    if (now < rcv_next) return;
    if (rcv_bit < 8) { rcv_byte |= (uint8_t)(tx << rcv_bit); rcv_bit++; rcv_next += period_q8; return; }
    if (tx) got.push_back(rcv_byte); else frame_errors++;
    last_activity = cyc;
    rcv_bit = -1;
}

static void tick() {
    top->@CLK@ = 0; top->@RX@ = line_level(); top->eval();
    top->@CLK@ = 1; top->eval();
    sample_tx(top->@TX@);
    cyc++;
}

static bool rd(void* p, size_t n) { return std::fread(p, 1, n, stdin) == n; }

static void reply(char tag, uint32_t n) {
    std::fputc(tag, stdout);
    std::fwrite(&n, 4, 1, stdout);
    std::fwrite(got.data(), 1, n, stdout);
    got.erase(got.begin(), got.begin() + n);
    std::fwrite(&cyc, 8, 1, stdout);
    std::fwrite(&frame_errors, 8, 1, stdout);
    std::fflush(stdout);
}

int main(int argc, char** argv) {
    if (argc < 2) { std::fprintf(stderr, "usage: bench host_bit_period_q8\n"); return 2; }
    period_q8 = std::strtoull(argv[1], nullptr, 10);
    VerilatedContext* ctx = new VerilatedContext;
    top = new V@TOP@{ctx};
    for (int i = 0; i < 64; i++) tick();  // power-on reset of the wrapper
    for (;;) {
        int c = std::fgetc(stdin);
        if (c == EOF || c == 'Q') break;
        if (c == 'W') {
            uint32_t n; if (!rd(&n, 4)) return 2;
            std::vector<uint8_t> b(n); if (n && !rd(b.data(), n)) return 2;
            line_q.insert(line_q.end(), b.begin(), b.end());
        } else if (c == 'R') {
            uint32_t n; uint64_t idle; if (!rd(&n, 4) || !rd(&idle, 8)) return 2;
            last_activity = cyc;
            while (got.size() < n && cyc - last_activity <= idle) tick();
            reply(got.size() >= n ? 'K' : 'T', got.size() < n ? (uint32_t)got.size() : n);
        } else if (c == 'B') {
            uint64_t len; if (!rd(&len, 8)) return 2;
            line_q.clear(); drv_on = false;
            brk_until = cyc + len;
            while (cyc < brk_until + 30 * (period_q8 >> 8)) tick();
            got.clear(); rcv_bit = -1;
            reply('K', 0);
        } else { std::fprintf(stderr, "bench: unknown command %d\n", c); return 2; }
    }
    top->final();
    delete top; delete ctx;
    return 0;
}
"""


def bench_cpp(top: str, clock: str, rx: str, tx: str) -> str:
    """The bench for the Verilated board top ``top`` with these pin names."""
    out = BENCH_CPP
    for k, v in (("@TOP@", top), ("@CLK@", clock), ("@RX@", rx), ("@TX@", tx)):
        out = out.replace(k, v)
    return out


class SimulatedBoard:
    """The board top of a board build running in Verilator, behind the driver's link
    interface. ``baud_error`` offsets the host's baud rate (e.g. 0.02 = 2 % fast)."""

    def __init__(
        self,
        build_dir: Path | str,
        simulator: str = DEFAULT_SIMULATOR,
        baud_error: float = 0.0,
        max_idle_cycles: int = 2_000_000,
    ) -> None:
        if simulator != DEFAULT_SIMULATOR:
            raise RtlSimError(
                f"the board top runs in {DEFAULT_SIMULATOR} only (its bench is C++ for "
                f"Verilator), not --simulator {simulator}"
            )
        self.plan = BoardPlan(Path(build_dir))
        self.design = self.plan.sim_design(bench_cpp)
        self.binary: Binary = get_backend(simulator).compile(self.design)
        self.cpb = self.plan.link.clks_per_bit
        self.period_q8 = round(self.cpb * 256 / (1.0 + baud_error))
        self.max_idle = max_idle_cycles
        workdir = self.plan.build_dir / "rtlsim" / "board"
        self.design.stage_data(workdir)
        self.proc = subprocess.Popen(
            [str(self.binary.path), str(self.period_q8)],
            cwd=workdir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.cycles = 0
        self.frame_errors = 0
        self.sim_seconds = 0.0

    def _answer(self) -> bytes:
        out = self.proc.stdout
        head = out.read(5)
        if len(head) != 5:
            err = self.proc.stderr.read().decode(errors="replace").strip()
            raise RtlSimError(f"board-top simulation stopped: {err or 'no message'}")
        n = struct.unpack("<I", head[1:])[0]
        data = out.read(n)
        self.cycles, self.frame_errors = struct.unpack("<QQ", out.read(16))
        return data

    def _send(self, msg: bytes) -> None:
        self.proc.stdin.write(msg)
        self.proc.stdin.flush()

    def write(self, data: bytes) -> None:
        self._send(b"W" + struct.pack("<I", len(data)) + data)

    def read(self, n: int) -> bytes:
        t0 = time.perf_counter()
        self._send(b"R" + struct.pack("<IQ", n, self.max_idle))
        data = self._answer()
        self.sim_seconds += time.perf_counter() - t0
        return data

    def send_break(self, seconds: float) -> None:
        cycles = max(40 * self.cpb, round(seconds * self.plan.link.clock_mhz * 1e6))
        self._send(b"B" + struct.pack("<Q", cycles))
        self._answer()

    def close(self) -> None:
        stop_bench(self.proc)
