"""One runtime-writeable layer in Verilator with its weight memory EMPTY and its AXI-lite port
driven from Python: a stand-in for the board, so the driver's own weight-loading code
(:mod:`fewerbits.hw.driver.runtime_weights`) writes the weights as it does through PYNQ's MMIO.

The layer's module (:func:`.design.node_design` with ``axilite=True``: FINN's generated RTL,
weight streamer finn-rtllib ``memstream_axi`` without init file, its ``s_axilite_*`` ports
exposed) runs under a persistent C++ bench; :class:`AxiLiteLayerSim` talks to it over pipes.

Pipe protocol (stdin -> bench): ``W <u32 n> n x (<u32 addr> <u32 data>)`` n AXI-lite writes in
order (address and data offered together, the response awaited), answer ``K <u32 errors>``
(responses other than OKAY); ``R <u32 n> n x <u32 addr>`` n reads in order, answer
``K <u32 n> n x <u32 data>``; ``S <u32 n_in> <u32 n_out> <n_in words>`` stream n_in input
words, collect n_out output words, answer ``K|T <u32 k> <k words>`` (T: ``idle`` cycles
without an output word); ``Q`` quit. Every answer ends with ``<u64 cycle>``.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np

from ..sim import DEFAULT_SIMULATOR, Design, RtlSimError, get_backend
from ..sim.protocol import stop_bench
from .design import node_design

BENCH_CPP = r"""
// fewerbits AXI-lite + AXI-stream bench of one layer (generated; see hw/rtlsim/axilite.py)
#include "V@TOP@.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

static V@TOP@* top;
static uint64_t cyc = 0;
template <typename T> static void put(T& sig, const uint8_t* b, int n) { T v = 0; std::memcpy(&v, b, n); sig = v; }
template <std::size_t W> static void put(VlWide<W>& sig, const uint8_t* b, int n) {
    uint32_t t[W] = {0}; std::memcpy(t, b, n); for (std::size_t i = 0; i < W; i++) sig[i] = t[i];
}
template <typename T> static void get(const T& sig, uint8_t* b, int n) { T v = sig; std::memcpy(b, &v, n); }
template <std::size_t W> static void get(const VlWide<W>& sig, uint8_t* b, int n) {
    uint32_t t[W]; for (std::size_t i = 0; i < W; i++) t[i] = sig[i]; std::memcpy(b, t, n);
}
static void tick() { top->ap_clk = 0; top->eval(); top->ap_clk = 1; top->eval(); cyc++; }
static bool rd(void* p, size_t n) { return std::fread(p, 1, n, stdin) == n; }
static void wr(const void* p, size_t n) { std::fwrite(p, 1, n, stdout); }
static void done() { wr(&cyc, 8); std::fflush(stdout); }

static uint32_t axi_write(uint32_t addr, uint32_t data) {
    top->s_axilite_AWADDR = addr; top->s_axilite_WDATA = data; top->s_axilite_WSTRB = 0xF;
    top->s_axilite_AWVALID = 1; top->s_axilite_WVALID = 1; top->s_axilite_BREADY = 1;
    bool aw = false, w = false;
    for (int k = 0; k < 10000; k++) {
        top->ap_clk = 0; top->eval();
        bool aw_fire = !aw && top->s_axilite_AWREADY, w_fire = !w && top->s_axilite_WREADY;
        bool b_fire = top->s_axilite_BVALID;
        uint32_t resp = top->s_axilite_BRESP;
        top->ap_clk = 1; top->eval(); cyc++;
        if (aw_fire) { aw = true; top->s_axilite_AWVALID = 0; }
        if (w_fire) { w = true; top->s_axilite_WVALID = 0; }
        if (b_fire) { top->s_axilite_BREADY = 0; return resp; }
    }
    top->s_axilite_AWVALID = 0; top->s_axilite_WVALID = 0; top->s_axilite_BREADY = 0;
    return 0x100;  // no response: counted as an error
}

static uint32_t axi_read(uint32_t addr) {
    top->s_axilite_ARADDR = addr; top->s_axilite_ARVALID = 1; top->s_axilite_RREADY = 1;
    for (int k = 0; k < 10000; k++) {
        top->ap_clk = 0; top->eval();
        bool ar_fire = top->s_axilite_ARVALID && top->s_axilite_ARREADY;
        bool r_fire = top->s_axilite_RVALID;
        uint32_t data = top->s_axilite_RDATA;
        top->ap_clk = 1; top->eval(); cyc++;
        if (ar_fire) top->s_axilite_ARVALID = 0;
        if (r_fire) { top->s_axilite_RREADY = 0; return data; }
    }
    top->s_axilite_ARVALID = 0; top->s_axilite_RREADY = 0;
    return 0xDEADBEEF;  // no response
}

int main(int argc, char** argv) {
    if (argc < 4) { std::fprintf(stderr, "usage: bench in_bytes out_bytes max_idle\n"); return 2; }
    const int ib = std::atoi(argv[1]), ob = std::atoi(argv[2]); const long max_idle = std::atol(argv[3]);
    VerilatedContext* ctx = new VerilatedContext;
    top = new V@TOP@{ctx};
    top->ap_rst_n = 0; top->in0_V_TVALID = 0; top->out0_V_TREADY = 0;
    for (int i = 0; i < 16; i++) tick();
    top->ap_rst_n = 1;
    std::vector<uint8_t> word((size_t)(ib > ob ? ib : ob) + 8, 0);
    for (;;) {
        int c = std::fgetc(stdin);
        if (c == EOF || c == 'Q') break;
        uint32_t n;
        if (c == 'W') {
            if (!rd(&n, 4)) return 2;
            uint32_t errors = 0;
            for (uint32_t i = 0; i < n; i++) {
                uint32_t ad[2]; if (!rd(ad, 8)) return 2;
                if (axi_write(ad[0], ad[1]) != 0) errors++;
            }
            std::fputc('K', stdout); wr(&errors, 4); done();
        } else if (c == 'R') {
            if (!rd(&n, 4)) return 2;
            std::vector<uint32_t> addr(n), data(n);
            if (n && !rd(addr.data(), 4 * (size_t)n)) return 2;
            for (uint32_t i = 0; i < n; i++) data[i] = axi_read(addr[i]);
            std::fputc('K', stdout); wr(&n, 4); wr(data.data(), 4 * (size_t)n); done();
        } else if (c == 'S') {
            uint32_t n_out; if (!rd(&n, 4) || !rd(&n_out, 4)) return 2;
            std::vector<uint8_t> in((size_t)n * ib), out((size_t)n_out * ob);
            if (n && !rd(in.data(), in.size())) return 2;
            uint32_t ii = 0, oi = 0; long idle = 0;
            while (oi < n_out && idle <= max_idle) {
                top->ap_clk = 0;
                top->in0_V_TVALID = ii < n ? 1 : 0;
                if (ii < n) put(top->in0_V_TDATA, &in[(size_t)ii * ib], ib);
                top->out0_V_TREADY = 1;
                top->eval();
                bool in_fire = top->in0_V_TVALID && top->in0_V_TREADY;
                bool out_fire = top->out0_V_TVALID && top->out0_V_TREADY;
                if (out_fire) { get(top->out0_V_TDATA, &out[(size_t)oi * ob], ob); oi++; idle = 0; }
                else idle++;
                top->ap_clk = 1; top->eval(); cyc++;
                if (in_fire) ii++;
            }
            top->in0_V_TVALID = 0; top->out0_V_TREADY = 0;
            std::fputc(oi == n_out ? 'K' : 'T', stdout); wr(&oi, 4); wr(out.data(), (size_t)oi * ob); done();
        } else { std::fprintf(stderr, "bench: unknown command %d\n", c); return 2; }
    }
    top->final();
    delete top; delete ctx;
    return 0;
}
"""


class AxiLitePort:
    """One layer's AXI-lite window (byte offsets, 32-bit words), with ``pynq.MMIO``'s
    ``write(offset, value)`` / ``read(offset)``. Writes are posted: they are sent to the
    simulation, in order, before the next read or stream (as a CPU's posted writes)."""

    def __init__(self, sim: AxiLiteLayerSim) -> None:
        self.sim = sim

    def write(self, offset: int, value: int) -> None:
        self.sim.post_write(int(offset), int(value))

    def read(self, offset: int) -> int:
        return int(self.sim.read_many([int(offset)])[0])


class AxiLiteLayerSim:
    """The runtime-writeable layer ``node`` of the code-generated hw graph ``model`` in
    Verilator, weight memory empty; AXI-lite writes/reads and frames through pipes."""

    def __init__(
        self,
        model,
        node=None,
        simulator: str = DEFAULT_SIMULATOR,
        workdir: Path | None = None,
        max_idle_cycles: int = 100_000,
    ) -> None:
        if simulator != DEFAULT_SIMULATOR:
            raise RtlSimError(
                f"the AXI-lite bench is C++ for {DEFAULT_SIMULATOR}, not --simulator {simulator}"
            )
        node = node if node is not None else model.graph.node[0]
        d = node_design(model, node, axilite=True)
        harness = BENCH_CPP.replace("@TOP@", d.module)
        self.design = Design(
            f"{node.name} with AXI-lite weights",
            d.sources,
            d.module,
            data_files=d.data_files,
            harness=harness,
        )
        self.node = d
        self.in_bytes, self.out_bytes = d.in_width // 8, d.out_width // 8
        self.binary = get_backend(simulator).compile(self.design)
        work = Path(workdir or self.binary.path.parent / "work")
        self.design.stage_data(work)
        self.proc = subprocess.Popen(
            [str(self.binary.path), str(self.in_bytes), str(self.out_bytes), str(max_idle_cycles)],
            cwd=work,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._posted: list[tuple[int, int]] = []
        self.cycles = 0
        self.writes = 0
        self.reads = 0

    def port(self) -> AxiLitePort:
        return AxiLitePort(self)

    def _send(self, msg: bytes) -> None:
        self.proc.stdin.write(msg)
        self.proc.stdin.flush()

    def _head(self) -> bytes:
        head = self.proc.stdout.read(5)
        if len(head) != 5:
            err = self.proc.stderr.read().decode(errors="replace").strip()
            raise RtlSimError(f"{self.design.name}: simulation stopped: {err or 'no message'}")
        return head

    def _tail(self) -> None:
        (self.cycles,) = struct.unpack("<Q", self.proc.stdout.read(8))

    def post_write(self, offset: int, value: int) -> None:
        self._posted.append((offset, value & 0xFFFFFFFF))

    def flush_writes(self) -> None:
        """Send the posted writes; RtlSimError if any response was not OKAY."""
        if not self._posted:
            return
        pairs = np.asarray(self._posted, dtype=np.uint32)
        self._posted.clear()
        self._send(b"W" + struct.pack("<I", len(pairs)) + pairs.tobytes())
        (errors,) = struct.unpack("<I", self._head()[1:])
        self._tail()
        self.writes += len(pairs)
        if errors:
            raise RtlSimError(f"{self.design.name}: {errors} AXI-lite writes not OKAY")

    def read_many(self, offsets: list[int]) -> np.ndarray:
        self.flush_writes()
        self._send(b"R" + struct.pack("<I", len(offsets)) + np.asarray(offsets, "<u4").tobytes())
        (n,) = struct.unpack("<I", self._head()[1:])
        data = np.frombuffer(self.proc.stdout.read(4 * n), dtype="<u4").copy()
        self._tail()
        self.reads += n
        return data

    def stream(self, words: np.ndarray, n_out: int) -> np.ndarray:
        """Input words ``uint8 (n_in, in_bytes)`` -> ``n_out`` output words ``(n_out, out_bytes)``."""
        self.flush_writes()
        words = np.ascontiguousarray(words, dtype=np.uint8)
        if words.ndim != 2 or words.shape[1] != self.in_bytes:
            raise RtlSimError(
                f"{self.design.name}: input words {words.shape}, need (n, {self.in_bytes})"
            )
        self._send(b"S" + struct.pack("<II", words.shape[0], n_out) + words.tobytes())
        head = self._head()
        (k,) = struct.unpack("<I", head[1:])
        out = np.frombuffer(self.proc.stdout.read(k * self.out_bytes), dtype=np.uint8)
        self._tail()
        if head[:1] != b"K":
            raise RtlSimError(
                f"{self.design.name}: {k} of {n_out} output words, then no output (timeout)"
            )
        return out.reshape(n_out, self.out_bytes).copy()

    def close(self) -> None:
        stop_bench(self.proc)
