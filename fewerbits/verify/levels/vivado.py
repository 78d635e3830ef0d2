"""Levels that need Xilinx tools: reported as skipped, with the reason."""

from __future__ import annotations

from fewerbits.compat.finn import env as finn_env

from ..level import Level, register_level

#: said honestly: running `verify` in the Docker image with Vivado would not run these either
_NOT_DRIVEN = "fewerbits does not drive this FINN level yet, with or without Vivado"


class VivadoLevel(Level):
    """A FINN simulation level that needs Vivado/Vitis HLS."""

    needs = "build"
    why = ""

    def __init__(self, export, build) -> None:
        pass

    def available(self) -> str | None:
        if finn_env.vivado_available() and finn_env.vitis_hls_available():
            return "Vivado found, but fewerbits does not drive FINN's cppsim/xsim levels yet"
        return f"{self.why}; {_NOT_DRIVEN}"


@register_level
class CppsimLevel(VivadoLevel):
    """FINN's C++ simulation of the HLS layers."""

    name = "cppsim"
    rank = 90
    why = "needs Vitis HLS and finn-hlslib (C++ simulation of the HLS layers)"


@register_level
class XsimLevel(VivadoLevel):
    """FINN's xsim simulation of the stitched IP."""

    name = "rtlsim_xsim"
    rank = 100
    why = "needs Vivado xsim (FINN's RTL simulation of the stitched IP)"
