"""The C++ test bench that streams words through any Verilated stream top level (see
:mod:`fewerbits.hw.sim.protocol` for the interface).

It streams input words from a file with random valid stalls (AXI rule kept: valid is never
withdrawn before the handshake), applies random ready back-pressure, records every output
word and the cycle of every frame's first input and last output handshake. Written for the
top ``fb_top``; :func:`harness_cpp` renames the model class for another top. For a top with
FIFO monitors (``Design.fifo_monitors``) it also writes each FIFO's maximum occupancy (last
line of the stats file, ``fifo_max ...``) and, on a timeout, each FIFO's current occupancy.

Debugging (a top built with ``Design.taps`` / ``Design.trace``): every handshake on each tapped
inter-layer stream is appended to ``<tap prefix>.<k>`` (the word's bytes) and ``<tap prefix>.<k>.cyc``
(int64 cycle); an FST waveform of the cycles ``[trace start, trace end]`` is written when a trace
file is given. Optional arguments 13-18: tap prefix, tap bytes per stream (comma list; each a
multiple of 4, as the top pads them), trace file, trace start, trace end (``-`` for none), and
the input pacing: frame f's first word is offered no earlier than cycle f * interval.
"""

from __future__ import annotations

HARNESS_CPP = r"""
// fewerbits AXI-stream harness for Verilator (generated; see hw/sim/verilator/harness.py)
#include "Vfb_top.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#ifndef FB_FIFO_MONITORS
#define FB_FIFO_MONITORS 0
#endif
#ifndef FB_TAPS
#define FB_TAPS 0
#endif
#ifndef FB_TRACE
#define FB_TRACE 0
#endif
#if FB_TRACE
#include "verilated_fst_c.h"
#endif
static uint64_t rng_state = 88172645463325252ULL;
static inline uint32_t rnd100() {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % 100);
}
template <typename T> static inline void set_word(T& sig, const uint8_t* b, int n) {
    T v = 0; std::memcpy(&v, b, n); sig = v;
}
template <std::size_t W> static inline void set_word(VlWide<W>& sig, const uint8_t* b, int n) {
    uint32_t tmp[W]; std::memset(tmp, 0, sizeof(tmp)); std::memcpy(tmp, b, n);
    for (std::size_t i = 0; i < W; i++) sig[i] = tmp[i];
}
template <typename T> static inline void get_word(const T& sig, uint8_t* b, int n) {
    T v = sig; std::memcpy(b, &v, n);
}
template <std::size_t W> static inline void get_word(const VlWide<W>& sig, uint8_t* b, int n) {
    uint32_t tmp[W]; for (std::size_t i = 0; i < W; i++) tmp[i] = sig[i]; std::memcpy(b, tmp, n);
}

// occupancy of the monitored FIFOs: sig holds 32 bits per FIFO
template <typename T> static void fifo_words(const T& sig, FILE* f, const char* tag) {
    const int n = FB_FIFO_MONITORS;
    std::vector<uint8_t> b(4 * (size_t)(n > 0 ? n : 1), 0);
    get_word(sig, b.data(), 4 * n);
    std::fprintf(f, "%s", tag);
    for (int i = 0; i < n; i++) { uint32_t v; std::memcpy(&v, &b[4 * (size_t)i], 4); std::fprintf(f, " %u", v); }
    std::fprintf(f, "\n");
}

int main(int argc, char** argv) {
    // args: in.bin out.bin stats.txt in_bytes out_bytes in_words_per_frame out_words_per_frame
    //       frames in_stall_pct out_stall_pct seed max_idle_cycles
    if (argc < 13) { std::fprintf(stderr, "usage: sim in out stats ib ob iwpf owpf frames isp osp seed idle\n"); return 2; }
    const char* fin = argv[1]; const char* fout = argv[2]; const char* fstats = argv[3];
    int ib = std::atoi(argv[4]), ob = std::atoi(argv[5]);
    long iwpf = std::atol(argv[6]), owpf = std::atol(argv[7]), frames = std::atol(argv[8]);
    int isp = std::atoi(argv[9]), osp = std::atoi(argv[10]);
    rng_state ^= (uint64_t)std::atoll(argv[11]) * 0x9E3779B97F4A7C15ULL; if (!rng_state) rng_state = 1;
    long max_idle = std::atol(argv[12]);
    auto opt = [&](int i) -> const char* { return (argc > i && std::strcmp(argv[i], "-")) ? argv[i] : nullptr; };
    const char* tap_prefix = opt(13); const char* trace_file = opt(15);
    long trace_t0 = opt(16) ? std::atol(argv[16]) : 0, trace_t1 = opt(17) ? std::atol(argv[17]) : -1;
    long interval = opt(18) ? std::atol(argv[18]) : 0;  // frame f starts no earlier than f*interval
#if FB_TAPS
    std::vector<int> tap_bytes; std::vector<FILE*> tap_dat, tap_cyc; std::vector<uint8_t> tap_buf;
    if (tap_prefix && opt(14)) {
        for (const char* q = argv[14]; *q; ) { tap_bytes.push_back(std::atoi(q)); while (*q && *q != ',') q++; if (*q) q++; }
        if ((int)tap_bytes.size() != FB_TAPS) { std::fprintf(stderr, "tap widths: %zu given, %d taps\n", tap_bytes.size(), FB_TAPS); return 2; }
        int total = 0;
        for (int k = 0; k < FB_TAPS; k++) {
            char name[4096];
            std::snprintf(name, sizeof name, "%s.%d", tap_prefix, k); tap_dat.push_back(std::fopen(name, "wb"));
            std::snprintf(name, sizeof name, "%s.%d.cyc", tap_prefix, k); tap_cyc.push_back(std::fopen(name, "wb"));
            if (!tap_dat.back() || !tap_cyc.back()) { std::fprintf(stderr, "cannot write %s\n", name); return 2; }
            total += tap_bytes[k];
        }
        tap_buf.resize((size_t)total + 8);
    }
#endif
    long n_in = iwpf * frames, n_out = owpf * frames;
    std::vector<uint8_t> in((size_t)n_in * ib), out((size_t)n_out * ob);
    FILE* f = std::fopen(fin, "rb");
    if (!f || std::fread(in.data(), 1, in.size(), f) != in.size()) { std::fprintf(stderr, "cannot read %s\n", fin); return 2; }
    std::fclose(f);
    std::vector<long> first_in(frames, -1), last_out(frames, -1);

    VerilatedContext* ctx = new VerilatedContext;
#if FB_TRACE
    if (trace_file) ctx->traceEverOn(true);
#endif
    Vfb_top* top = new Vfb_top{ctx};
#if FB_TRACE
    VerilatedFstC* tfp = nullptr;
    if (trace_file) { tfp = new VerilatedFstC; top->trace(tfp, 99); tfp->open(trace_file); }
#define FB_DUMP(t) do { if (tfp && cyc >= trace_t0 && cyc <= trace_t1) tfp->dump((uint64_t)(t)); } while (0)
#else
#define FB_DUMP(t) do { } while (0)
    (void)trace_file; (void)trace_t0; (void)trace_t1;
#endif
#if !FB_TAPS
    (void)tap_prefix;
#endif
    top->ap_clk = 0; top->ap_rst_n = 0; top->in_tvalid = 0; top->out_tready = 0;
    for (int i = 0; i < 16; i++) { top->ap_clk = 0; top->eval(); top->ap_clk = 1; top->eval(); }
    top->ap_clk = 0; top->ap_rst_n = 1; top->eval();
    long cyc = 0, ii = 0, oi = 0, idle = 0; bool holding = false;
    while (oi < n_out) {
        top->ap_clk = 0;
        if (ii < n_in && !(interval > 0 && ii % iwpf == 0 && cyc < (ii / iwpf) * interval)) {
            if (!holding) holding = isp == 0 || (int)rnd100() >= isp;
            if (holding) set_word(top->in_tdata, &in[(size_t)ii * ib], ib);
            top->in_tvalid = holding ? 1 : 0;
        } else { top->in_tvalid = 0; }
        top->out_tready = (osp == 0 || (int)rnd100() >= osp) ? 1 : 0;
        top->eval();
        FB_DUMP(2 * cyc);
        bool in_fire = top->in_tvalid && top->in_tready;
        bool out_fire = top->out_tvalid && top->out_tready;
        if (out_fire) {
            get_word(top->out_tdata, &out[(size_t)oi * ob], ob);
            if ((oi + 1) % owpf == 0) last_out[oi / owpf] = cyc;
            oi++; idle = 0;
        } else if (++idle > max_idle) {
#if FB_FIFO_MONITORS
            fifo_words(top->fb_fifo_count, stderr, "fifo_count");
#endif
#if FB_TRACE
            if (tfp) tfp->close();
#endif
            std::fprintf(stderr, "timeout: no output for %ld cycles after %ld/%ld output words, %ld/%ld input words\n", max_idle, oi, n_out, ii, n_in);
            return 3;
        }
#if FB_TAPS
        if (!tap_dat.empty() && top->fb_tap_fire) {
            get_word(top->fb_tap_data, tap_buf.data(), (int)tap_buf.size() - 8);
            size_t ofs = 0;
            for (int k = 0; k < FB_TAPS; k++) {
                if ((top->fb_tap_fire >> k) & 1) {
                    std::fwrite(&tap_buf[ofs], 1, (size_t)tap_bytes[k], tap_dat[k]);
                    int64_t c = cyc; std::fwrite(&c, sizeof c, 1, tap_cyc[k]);
                }
                ofs += (size_t)tap_bytes[k];
            }
        }
#endif
        top->ap_clk = 1; top->eval();
        FB_DUMP(2 * cyc + 1);
        if (in_fire) { if (ii % iwpf == 0) first_in[ii / iwpf] = cyc; ii++; holding = false; }
        cyc++;
    }
    for (int i = 0; i < 8; i++) { top->ap_clk = 0; top->eval(); top->ap_clk = 1; top->eval(); }
    top->final();
#if FB_TRACE
    if (tfp) { tfp->close(); delete tfp; }
#endif
#if FB_TAPS
    for (FILE* t : tap_dat) std::fclose(t);
    for (FILE* t : tap_cyc) std::fclose(t);
#endif
    f = std::fopen(fout, "wb"); std::fwrite(out.data(), 1, out.size(), f); std::fclose(f);
    f = std::fopen(fstats, "w");
    std::fprintf(f, "%ld\n", cyc);
    for (long i = 0; i < frames; i++) std::fprintf(f, "%ld %ld\n", first_in[i], last_out[i]);
#if FB_FIFO_MONITORS
    fifo_words(top->fb_fifo_max, f, "fifo_max");
#endif
    std::fclose(f);
    delete top; delete ctx;
    return 0;
}
"""


def harness_cpp(
    top: str = "fb_top", fifo_monitors: int = 0, taps: int = 0, trace: bool = False
) -> str:
    """The harness for Verilated model ``V<top>`` (reading ``fifo_monitors`` FIFO counters,
    recording ``taps`` stream taps, able to write an FST trace when ``trace``)."""
    text = HARNESS_CPP.replace("Vfb_top", f"V{top}")
    defines = {"FB_FIFO_MONITORS": int(fifo_monitors), "FB_TAPS": int(taps), "FB_TRACE": int(trace)}
    head = "".join(f"#define {k} {v}\n" for k, v in defines.items() if v)
    return head + text
