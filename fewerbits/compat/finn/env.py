"""Workarounds that let finn-plus 1.6.1 run without Vivado and without writing to $HOME.

Every function here names the upstream version and the symptom it covers; each has a test in
``tests/test_compat_finn_env.py`` that fails if the workaround is removed while the bug is there.

Call :func:`prepare_finn` once (with the run's output folder) before importing any
``finn.builder`` / ``finn.transformation`` module. It is idempotent.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from shutil import which

from fewerbits.core import versions

FINN_PLUS_VERSION = versions.FINN_PLUS

# Names that finn.xsi exports lazily; finn.builder.build_dataflow_steps does
# `from finn.xsi import SimEngine` at import time.
_XSI_LAZY_NAMES = (
    "SimEngine",
    "locate_glbl",
    "compile_sim_obj",
    "get_simkernel_so",
    "load_sim_obj",
    "reset_rtlsim",
    "close_rtlsim",
    "rtlsim_multi_io",
)

_prepared_for: Path | None = None


class VivadoRequiredError(RuntimeError):
    """Raised when code asks for a FINN feature that needs Vivado/Vitis (xsim, HLS, synthesis)."""


def vivado_available() -> bool:
    """True when the Vivado and Vitis HLS tools are on this machine (XILINX_VIVADO set and found)."""
    root = os.environ.get("XILINX_VIVADO")
    return bool(root) and Path(root, "bin", "vivado").exists()


def vitis_hls_available() -> bool:
    """True when Vitis HLS is on this machine (XILINX_HLS set or vitis_hls on PATH)."""
    root = os.environ.get("XILINX_HLS")
    return (bool(root) and Path(root, "bin", "vitis_hls").exists()) or which(
        "vitis_hls"
    ) is not None


class _VivadoOnly:
    """Stand-in for a finn.xsi name: importing it works, using it raises a clear error."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __call__(self, *args: object, **kwargs: object) -> None:
        raise VivadoRequiredError(
            f"finn.xsi.{self._name}: FINN's RTL simulation uses Vivado xsim, which is not "
            "installed here; use `fewerbits verify` (Verilator levels) or run inside the "
            "fewerbits Docker image with Vivado mounted (docker/run.sh)."
        )

    def __repr__(self) -> str:
        return f"<vivado-only finn.xsi.{self._name}>"


def prebind_xsi() -> None:
    """finn-plus 1.6.1: `import finn.builder.build_dataflow_steps` raises
    ``OSError: XILINX_VIVADO environment variable not set`` because it does
    ``from finn.xsi import SimEngine`` and finn.xsi's lazy ``__getattr__`` tries to build the
    Vivado XSI binding. With Vivado present we leave it alone; without it we bind the lazy names
    to stand-ins that raise :class:`VivadoRequiredError` only when actually called."""
    if vivado_available():
        return
    import finn.xsi as xsi

    for name in _XSI_LAZY_NAMES:
        if name not in vars(xsi):
            setattr(xsi, name, _VivadoOnly(name))


def write_settings(work_dir: Path) -> Path:
    """finn-plus 1.6.1: without FINN_SETTINGS, FINNSettings resolves ``~/.finn/settings.yaml``
    (creating ``~/.finn``), and without FINN_SETTINGS or FINN_BUILD_DIR every transformation
    raises ``FINNUserError: Could not find global settings``. We write a settings file and a
    build directory inside the run's own folder and point both variables at them."""
    import finn

    finn_dir = Path(finn.__file__).parent
    work_dir = work_dir.absolute()
    build_dir = work_dir / "finn_tmp"
    build_dir.mkdir(parents=True, exist_ok=True)
    settings = work_dir / "finn_settings.yaml"
    settings.write_text(
        "# Written by fewerbits (fewerbits/compat/finn/env.py) so FINN never touches ~/.finn\n"
        f"finn_build_dir: {build_dir}\n"
        f"finn_deps: {work_dir / 'finn_deps'}\n"
        f"finn_rtllib: {finn_dir / 'finn-rtllib'}\n"
        f"finn_custom_hls: {finn_dir / 'custom_hls'}\n"
        "automatic_dependency_updates: false\n"
    )
    os.environ["FINN_SETTINGS"] = str(settings)
    os.environ["FINN_BUILD_DIR"] = str(build_dir)
    return settings


def set_library_paths() -> None:
    """finn-plus 1.6.1: FINN_RTLLIB and FINN_CUSTOM_HLS are set only by the `finn` CLI
    (run_finn.py); through the Python API they are unset and RTL code generation fails with
    ``KeyError: 'FINN_RTLLIB'``. We set them to the installed package's folders."""
    import finn

    finn_dir = Path(finn.__file__).parent
    os.environ.setdefault("FINN_RTLLIB", str(finn_dir / "finn-rtllib"))
    os.environ.setdefault("FINN_CUSTOM_HLS", str(finn_dir / "custom_hls"))


def register_hw_ops() -> None:
    """finn-plus 1.6.1: the hardware ``Reshape`` op is registered only as a side effect of
    importing ``finn.custom_op.fpgadataflow.rtl``; loading a convert_to_hw-stage model in a
    fresh process gives ``KeyError: Op 'Reshape' not found``. Import all backends eagerly."""
    import finn.custom_op.fpgadataflow  # noqa: F401
    import finn.custom_op.fpgadataflow.hls  # noqa: F401
    import finn.custom_op.fpgadataflow.rtl  # noqa: F401


def reset_settings_cache() -> None:
    """Forget FINN's cached global settings so the next call re-reads FINN_SETTINGS."""
    import finn.util.settings as fs

    fs._SETTINGS = None


def prepare_finn(work_dir: Path | str) -> None:
    """Make finn-plus importable and usable here, with all of its files under ``work_dir``."""
    global _prepared_for
    work_dir = Path(work_dir).absolute()
    if _prepared_for == work_dir:
        return
    write_settings(work_dir)
    set_library_paths()
    reset_settings_cache()
    prebind_xsi()
    register_hw_ops()
    _prepared_for = work_dir


def finn_imported() -> bool:
    """True if any finn module is already imported (for diagnostics)."""
    return any(m == "finn" or m.startswith("finn.") for m in sys.modules)
