"""Levels that need Xilinx tools: reported as skipped, with what to run instead."""

from __future__ import annotations

from fewerbits.compat.finn import env as finn_env

from ..level import Level, register_level

_IN_DOCKER = "run `fewerbits verify` inside the Docker image with Vivado mounted"


class VivadoLevel(Level):
    """A FINN simulation level that needs Vivado/Vitis HLS."""

    needs = "build"
    why = ""

    def __init__(self, export, build) -> None:
        pass

    def available(self) -> str | None:
        if finn_env.vivado_available() and finn_env.vitis_hls_available():
            return "Vivado found, but fewerbits does not drive FINN's cppsim/xsim levels yet"
        return f"{self.why}; {_IN_DOCKER}"


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
