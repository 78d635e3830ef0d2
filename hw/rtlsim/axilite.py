"""A code-generated hw graph in Verilator with the weight memories of its runtime-writeable
layers EMPTY and their AXI-lite ports driven from Python: a stand-in for the board, so the
driver's own weight-loading code (:mod:`fewerbits.hw.driver.runtime_weights`) writes the
weights as it does through PYNQ's MMIO.

The layers (:func:`.design.node_design`, ``axilite=True`` for the runtime-writeable ones:
FINN's generated RTL, weight streamer finn-rtllib ``memstream_axi`` without init file, its
``s_axilite_*`` ports exposed) are stitched as the stitched simulation stitches them
(:func:`.design.stitched_top`, a FIFO between neighbours), AXI-lite port j of the top being the
j-th runtime-writeable layer's; a persistent C++ bench runs it, :class:`AxiLiteSim` talks to it
over pipes.

Pipe protocol (stdin -> bench): ``W <u32 port> <u32 n> n x (<u32 addr> <u32 data>)`` n AXI-lite
writes on port j in order (address and data offered together, the response awaited), answer
``K <u32 errors>`` (responses other than OKAY); ``R <u32 port> <u32 n> n x <u32 addr>`` n reads
in order, answer ``K <u32 n> n x <u32 data>``; ``S <u32 n_in> <u32 n_out> <n_in words>`` stream n_in input
words, collect n_out output words, answer ``K|T <u32 k> <k words>`` (T: ``idle`` cycles
without an output word); ``Q`` quit. Every answer ends with ``<u64 cycle>``.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np

from ..runtime_weights import writeable_layers
from ..sim import DEFAULT_SIMULATOR, Design, RtlSimError, get_backend
from ..sim.protocol import stop_bench
from .design import FIFO_DEPTH, axilite_prefixes, node_design, stitched_top

BENCH_CPP = r"""
// fewerbits AXI-lite + AXI-stream bench of one layer (generated; see hw/rtlsim/axilite.py)
#include "Vfb_top.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

static Vfb_top* top;
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

// one AXI-lite port's signals (members of the model; the address type depends on its width)
template <typename TA> struct Port {
    TA& awaddr; CData& awvalid; CData& awready; IData& wdata; CData& wstrb; CData& wvalid;
    CData& wready; CData& bvalid; CData& bready; CData& bresp;
    TA& araddr; CData& arvalid; CData& arready; IData& rdata; CData& rvalid; CData& rready;
};
#define PORT(p) Port<decltype(top->p##_AWADDR)>{top->p##_AWADDR, top->p##_AWVALID, \
    top->p##_AWREADY, top->p##_WDATA, top->p##_WSTRB, top->p##_WVALID, top->p##_WREADY, \
    top->p##_BVALID, top->p##_BREADY, top->p##_BRESP, top->p##_ARADDR, top->p##_ARVALID, \
    top->p##_ARREADY, top->p##_RDATA, top->p##_RVALID, top->p##_RREADY}

template <typename TA> static uint32_t axi_write(Port<TA> s, uint32_t addr, uint32_t data) {
    s.awaddr = addr; s.wdata = data; s.wstrb = 0xF; s.awvalid = 1; s.wvalid = 1; s.bready = 1;
    bool aw = false, w = false;
    for (int k = 0; k < 10000; k++) {
        top->ap_clk = 0; top->eval();
        bool aw_fire = !aw && s.awready, w_fire = !w && s.wready, b_fire = s.bvalid;
        uint32_t resp = s.bresp;
        top->ap_clk = 1; top->eval(); cyc++;
        if (aw_fire) { aw = true; s.awvalid = 0; }
        if (w_fire) { w = true; s.wvalid = 0; }
        if (b_fire) { s.bready = 0; return resp; }
    }
    s.awvalid = 0; s.wvalid = 0; s.bready = 0;
    return 0x100;  // no response: counted as an error
}

template <typename TA> static uint32_t axi_read(Port<TA> s, uint32_t addr) {
    s.araddr = addr; s.arvalid = 1; s.rready = 1;
    for (int k = 0; k < 10000; k++) {
        top->ap_clk = 0; top->eval();
        bool ar_fire = s.arvalid && s.arready, r_fire = s.rvalid;
        uint32_t data = s.rdata;
        top->ap_clk = 1; top->eval(); cyc++;
        if (ar_fire) s.arvalid = 0;
        if (r_fire) { s.rready = 0; return data; }
    }
    s.arvalid = 0; s.rready = 0;
    return 0xDEADBEEF;  // no response
}

static uint32_t port_write(uint32_t port, uint32_t addr, uint32_t data) {
    switch (port) {
@WRITE_CASES@
    default: return 0x200;
    }
}

static uint32_t port_read(uint32_t port, uint32_t addr) {
    switch (port) {
@READ_CASES@
    default: return 0xDEADBEEF;
    }
}

int main(int argc, char** argv) {
    if (argc < 4) { std::fprintf(stderr, "usage: bench in_bytes out_bytes max_idle\n"); return 2; }
    const int ib = std::atoi(argv[1]), ob = std::atoi(argv[2]); const long max_idle = std::atol(argv[3]);
    VerilatedContext* ctx = new VerilatedContext;
    top = new Vfb_top{ctx};
    top->ap_rst_n = 0; top->in_tvalid = 0; top->out_tready = 0;
    for (int i = 0; i < 16; i++) tick();
    top->ap_rst_n = 1;
    std::vector<uint8_t> word((size_t)(ib > ob ? ib : ob) + 8, 0);
    for (;;) {
        int c = std::fgetc(stdin);
        if (c == EOF || c == 'Q') break;
        uint32_t n;
        uint32_t port;
        if (c == 'W') {
            if (!rd(&port, 4) || !rd(&n, 4)) return 2;
            uint32_t errors = 0;
            for (uint32_t i = 0; i < n; i++) {
                uint32_t ad[2]; if (!rd(ad, 8)) return 2;
                if (port_write(port, ad[0], ad[1]) != 0) errors++;
            }
            std::fputc('K', stdout); wr(&errors, 4); done();
        } else if (c == 'R') {
            if (!rd(&port, 4) || !rd(&n, 4)) return 2;
            std::vector<uint32_t> addr(n), data(n);
            if (n && !rd(addr.data(), 4 * (size_t)n)) return 2;
            for (uint32_t i = 0; i < n; i++) data[i] = port_read(port, addr[i]);
            std::fputc('K', stdout); wr(&n, 4); wr(data.data(), 4 * (size_t)n); done();
        } else if (c == 'S') {
            uint32_t n_out; if (!rd(&n, 4) || !rd(&n_out, 4)) return 2;
            std::vector<uint8_t> in((size_t)n * ib), out((size_t)n_out * ob);
            if (n && !rd(in.data(), in.size())) return 2;
            uint32_t ii = 0, oi = 0; long idle = 0;
            while (oi < n_out && idle <= max_idle) {
                top->ap_clk = 0;
                top->in_tvalid = ii < n ? 1 : 0;
                if (ii < n) put(top->in_tdata, &in[(size_t)ii * ib], ib);
                top->out_tready = 1;
                top->eval();
                bool in_fire = top->in_tvalid && top->in_tready;
                bool out_fire = top->out_tvalid && top->out_tready;
                if (out_fire) { get(top->out_tdata, &out[(size_t)oi * ob], ob); oi++; idle = 0; }
                else idle++;
                top->ap_clk = 1; top->eval(); cyc++;
                if (in_fire) ii++;
            }
            top->in_tvalid = 0; top->out_tready = 0;
            std::fputc(oi == n_out ? 'K' : 'T', stdout); wr(&oi, 4); wr(out.data(), (size_t)oi * ob); done();
        } else { std::fprintf(stderr, "bench: unknown command %d\n", c); return 2; }
    }
    top->final();
    delete top; delete ctx;
    return 0;
}
"""


def bench_cpp(ports: int) -> str:
    """The bench for a top with AXI-lite ports ``axil0`` .. ``axil<ports-1>``."""
    w = "\n".join(
        f"    case {j}: return axi_write(PORT(axil{j}), addr, data);" for j in range(ports)
    )
    r = "\n".join(f"    case {j}: return axi_read(PORT(axil{j}), addr);" for j in range(ports))
    return BENCH_CPP.replace("@WRITE_CASES@", w).replace("@READ_CASES@", r)


class AxiLitePort:
    """AXI-lite port ``index`` of the simulation (byte offsets, 32-bit words), with
    ``pynq.MMIO``'s ``write(offset, value)`` / ``read(offset)``. Writes are posted: they are
    sent, in order, before the next read or stream (as a CPU's posted writes)."""

    def __init__(self, sim: AxiLiteSim, index: int) -> None:
        self.sim, self.index = sim, index

    def write(self, offset: int, value: int) -> None:
        self.sim.post_write(self.index, int(offset), int(value))

    def read(self, offset: int) -> int:
        return int(self.sim.read_many(self.index, [int(offset)])[0])


class AxiLiteSim:
    """The code-generated hw graph ``model`` (a chain of RTL layers) in Verilator, the weight
    memories of its runtime-writeable layers empty; AXI-lite writes/reads and frames through
    pipes. ``ports``: the runtime-writeable layers' names, in port order."""

    def __init__(
        self,
        model,
        simulator: str = DEFAULT_SIMULATOR,
        workdir: Path | None = None,
        max_idle_cycles: int = 100_000,
        fifo_depth: int = FIFO_DEPTH,
    ) -> None:
        if simulator != DEFAULT_SIMULATOR:
            raise RtlSimError(
                f"the AXI-lite bench is C++ for {DEFAULT_SIMULATOR}, not --simulator {simulator}"
            )
        rw = {n.name for n in writeable_layers(model)}
        designs = [node_design(model, n, axilite=n.name in rw) for n in model.graph.node]
        self.ports = [d.name for d, p in zip(designs, axilite_prefixes(designs), strict=True) if p]
        data_files = {k: v for d in designs for k, v in d.data_files.items()}
        self.design = Design(
            "accelerator with AXI-lite weights",
            stitched_top(designs, fifo_depth),
            data_files=data_files,
            harness=bench_cpp(len(self.ports)),
        )
        self.in_bytes, self.out_bytes = designs[0].in_width // 8, designs[-1].out_width // 8
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
        self._posted: list[tuple[int, int, int]] = []
        self.cycles = 0
        self.writes = [0] * len(self.ports)
        self.reads = [0] * len(self.ports)

    def port(self, index: int) -> AxiLitePort:
        if not 0 <= index < len(self.ports):
            raise RtlSimError(f"AXI-lite port {index}: the design has {len(self.ports)}")
        return AxiLitePort(self, index)

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

    def post_write(self, port: int, offset: int, value: int) -> None:
        self._posted.append((port, offset, value & 0xFFFFFFFF))

    def flush_writes(self) -> None:
        """Send the posted writes, in order; RtlSimError if a response was not OKAY."""
        while self._posted:
            port = self._posted[0][0]
            n = next((i for i, w in enumerate(self._posted) if w[0] != port), len(self._posted))
            pairs = np.asarray([w[1:] for w in self._posted[:n]], dtype="<u4")
            del self._posted[:n]
            self._send(b"W" + struct.pack("<II", port, n) + pairs.tobytes())
            (errors,) = struct.unpack("<I", self._head()[1:])
            self._tail()
            self.writes[port] += n
            if errors:
                raise RtlSimError(
                    f"{self.design.name}: {errors} AXI-lite writes to {self.ports[port]} not OKAY"
                )

    def read_many(self, port: int, offsets: list[int]) -> np.ndarray:
        self.flush_writes()
        msg = struct.pack("<II", port, len(offsets)) + np.asarray(offsets, "<u4").tobytes()
        self._send(b"R" + msg)
        (n,) = struct.unpack("<I", self._head()[1:])
        data = np.frombuffer(self.proc.stdout.read(4 * n), dtype="<u4").copy()
        self._tail()
        self.reads[port] += n
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
